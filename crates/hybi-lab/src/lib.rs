//! The hybi lab: runs opening handshakes through intermediaries and network conditions, mounts the
//! cross-protocol attacks of Huang et al. (2011), and decides every outcome from observations.
//!
//! * [`intermediary`]: data-driven proxy models ([`intermediary::Behaviour`] rows, [`intermediary::MODELS`]) run
//!   by one engine, behind one interface ([`intermediary::Intermediary`]) that real proxies will also implement;
//! * [`origin`]: the lab's servers (target, attacker, refuser, reflector, echo, SMTP-like, handshake servers);
//! * [`netcond`]: segmenting / delaying / resetting relays;
//! * [`population`]: the Huang et al. Table II client population, as weighted intermediary rows;
//! * [`subject`]: the plug-in trait for handshake variants; [`strawman`]: the paper's three strawmen;
//! * [`attack`]: IP hijacking, cache poisoning, request smuggling, cross-protocol checks;
//! * [`scenario`]: plain handshake-and-echo runs through a path (intermediary and/or network condition);
//! * [`subjects`]: hybi's own variants as subjects (the real tokio client, the sans-IO server);
//! * [`source`] and [`implement`]: implementability measured from hybi-proto's source and an in-memory exchange;
//! * [`run`]: the lab runner (the matrix, conditions, attacks, routing, Table II), [`score`]: the criteria,
//!   [`report`]: terminal tables, JSON and HTML.
//!
//! See `DESIGN.md` beside this crate's `Cargo.toml`.

#![warn(missing_docs)]

pub mod attack;
pub mod http;
pub mod implement;
pub mod intermediary;
pub mod netcond;
pub mod origin;
pub mod population;
pub mod real;
pub mod report;
pub mod run;
pub mod scenario;
pub mod score;
pub mod source;
pub mod strawman;
pub mod subject;
pub mod subjects;
pub mod util;
