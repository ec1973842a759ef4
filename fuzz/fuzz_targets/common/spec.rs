//! Frames and messages built from fuzzer-chosen parts, shared by `frames` (over a socket)
//! and `codec` (into the decoder directly). Structured input reaches the states past the
//! header checks far more often than raw bytes do.

use arbitrary::Arbitrary;
use ws_controller_protocol::deflate::Deflater;

/// A frame with any FIN/RSV/opcode and any length encoding, masked as the receiving role
/// expects unless `flip_mask`.
#[derive(Debug, Arbitrary)]
pub struct FrameSpec<'a> {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub flip_mask: bool,
    pub key: [u8; 4],
    pub length: Length,
    pub payload: Payload<'a>,
}

#[derive(Debug, Arbitrary)]
pub enum Length {
    /// The payload's length, in the shortest form.
    Exact,
    /// The payload's length in the 16-bit or 64-bit form (non-minimal encodings).
    Long16,
    Long64,
    /// A length that is not the payload's.
    Claim(u64),
}

#[derive(Debug, Arbitrary)]
pub enum Payload<'a> {
    Bytes(&'a [u8]),
    /// A close payload: code and reason.
    Close(u16, &'a str),
    /// `n` KiB of filler, to reach the size limit without a large input.
    Filler(u8),
}

impl FrameSpec<'_> {
    /// Appends the frame; `masked` is what the receiver expects (true for a server).
    pub fn encode(&self, out: &mut Vec<u8>, masked: bool) {
        let payload: Vec<u8> = match &self.payload {
            Payload::Bytes(b) => b.to_vec(),
            Payload::Close(code, reason) => {
                let mut p = code.to_be_bytes().to_vec();
                p.extend_from_slice(reason.as_bytes());
                p
            }
            Payload::Filler(k) => vec![b'x'; usize::from(*k) << 10],
        };
        let masked = masked != self.flip_mask;
        out.push((u8::from(self.fin) << 7) | ((self.rsv & 0x7) << 4) | (self.opcode & 0x0f));
        let mask_bit = if masked { 0x80 } else { 0 };
        let len = payload.len() as u64;
        match self.length {
            Length::Exact if len < 126 => out.push(mask_bit | len as u8),
            Length::Exact if len <= 0xffff => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            Length::Exact | Length::Long64 => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&len.to_be_bytes());
            }
            Length::Long16 => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            Length::Claim(claim) => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&claim.to_be_bytes());
            }
        }
        let key = masked.then_some(self.key);
        if let Some(key) = key {
            out.extend_from_slice(&key);
        }
        put_payload(out, &payload, key);
    }
}

/// A valid data message: text or binary, compressed or not, cut into frames at arbitrary
/// points (cuts inside UTF-8 sequences and inside the deflate stream included), with a
/// ping between its first two frames if asked.
#[derive(Debug, Arbitrary)]
pub struct MessageSpec<'a> {
    pub text: bool,
    pub data: &'a str,
    pub repeat: u8,
    /// Compressed by the peer's deflater, when permessage-deflate was agreed.
    pub compress: bool,
    /// Sizes of the frames the wire payload is cut into (the rest in a last one).
    pub fragments: Vec<u16>,
    pub ping: Option<&'a [u8]>,
    pub key: [u8; 4],
}

/// Most frames one message is cut into: bounds the work per input.
const MAX_FRAGMENTS: usize = 16;

impl MessageSpec<'_> {
    /// The message's payload.
    pub fn payload(&self) -> String {
        self.data.repeat(usize::from(self.repeat) + 1)
    }

    /// Appends the message's frames; `masked` is what the receiver expects. Compressed
    /// (RSV1 on the first frame) when `deflater` is given and `compress` is set. Returns
    /// the payload of the ping it put between the first two frames, if it did.
    pub fn encode(
        &self,
        out: &mut Vec<u8>,
        masked: bool,
        deflater: Option<&mut Deflater>,
    ) -> Option<&[u8]> {
        let plain = self.payload();
        let (wire, compressed) = match deflater {
            Some(deflater) if self.compress => {
                let mut wire = Vec::new();
                deflater.compress(plain.as_bytes(), &mut wire);
                (wire, true)
            }
            _ => (plain.into_bytes(), false),
        };
        let mut pinged = None;
        let key = masked.then_some(self.key);
        let mut rest = &wire[..];
        let mut first = true;
        let mut cuts = self
            .fragments
            .iter()
            .take(MAX_FRAGMENTS)
            .map(|&n| usize::from(n));
        loop {
            let take = cuts.next().unwrap_or(rest.len()).min(rest.len());
            let fin = take == rest.len();
            let opcode = match (first, self.text) {
                (false, _) => 0x0,
                (true, true) => 0x1,
                (true, false) => 0x2,
            };
            let rsv1 = if first && compressed { 0x40 } else { 0 };
            write_frame(
                out,
                (u8::from(fin) << 7) | rsv1 | opcode,
                key,
                &rest[..take],
            );
            rest = &rest[take..];
            if first && !fin {
                if let Some(ping) = self.ping {
                    let ping = &ping[..ping.len().min(125)];
                    write_frame(out, 0x89, key, ping);
                    pinged = Some(ping);
                }
            }
            first = false;
            if fin {
                return pinged;
            }
        }
    }
}

/// Appends a frame with the shortest length encoding.
pub fn write_frame(out: &mut Vec<u8>, b0: u8, key: Option<[u8; 4]>, payload: &[u8]) {
    out.push(b0);
    let mask_bit = if key.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if let Some(key) = key {
        out.extend_from_slice(&key);
    }
    put_payload(out, payload, key);
}

fn put_payload(out: &mut Vec<u8>, payload: &[u8], key: Option<[u8; 4]>) {
    let at = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = key {
        for (i, b) in out[at..].iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
}
