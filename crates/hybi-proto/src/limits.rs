//! Limits that bound the memory and work one peer can cost us.

/// Bounds applied to every connection. The defaults are what a careful operator facing
/// the open Internet would choose while still passing the Autobahn suite (whose largest
/// cases are a 16 MiB frame and 4 MiB messages in 64-byte fragments).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest opening-handshake head (request line + headers) accepted, in bytes.
    pub max_head_size: usize,
    /// Most header fields accepted in a handshake head.
    pub max_headers: usize,
    /// Largest single frame payload accepted.
    pub max_frame_size: u64,
    /// Largest reassembled message accepted.
    pub max_message_size: usize,
    /// Most frames one message may be split into.
    pub max_fragments: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_size: 16 * 1024,
            max_headers: 64,
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            max_fragments: 1 << 17,
        }
    }
}
