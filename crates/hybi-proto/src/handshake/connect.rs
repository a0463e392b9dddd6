//! CONNECT to `websocket.invalid` (Rescorla/Barth, with AES-128-CTR masking; Fette,
//! without). Detection lives here so that [`crate::Variant::detect`] stays one table;
//! the handshakes themselves are specified in `docs/proposals/`.

use rand::rngs::StdRng;

use super::{ClientOptions, ClientVariant, Rejection, ServerConfig, ServerVariant};
use crate::error::HandshakeError;
use crate::http::Request;
use crate::Variant;

/// Tells the two CONNECT proposals apart (and refuses any other CONNECT: a WebSocket
/// server is not a forward proxy).
pub(crate) fn detect(req: &Request) -> Result<Variant, HandshakeError> {
    if !req.target.eq_ignore_ascii_case("websocket.invalid:443") {
        return Err(HandshakeError::UnknownVariant(format!(
            "CONNECT to {} (only websocket.invalid:443 is a WebSocket handshake)",
            req.target
        )));
    }
    Ok(Variant::ConnectMasked)
}

pub(crate) fn server(
    variant: Variant,
    _req: &Request,
    _cfg: &ServerConfig,
) -> Result<Box<dyn ServerVariant>, Rejection> {
    Err(Rejection {
        status: 501,
        reason: "Not Implemented",
        headers: Vec::new(),
        error: HandshakeError::VariantDisabled(variant),
    })
}

pub(crate) fn client(
    opts: &ClientOptions,
    _rng: StdRng,
    _out: &mut Vec<u8>,
) -> Result<Box<dyn ClientVariant>, HandshakeError> {
    Err(HandshakeError::VariantDisabled(opts.variant))
}
