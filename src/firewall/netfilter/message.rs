//! Netfilter netlink messages as bytes, without sockets.
//!
//! This module owns the wire format shared by ctnetlink and nf_tables: the
//! netlink header, the netfilter generic header and (nested) attributes.
//! It builds requests into a buffer and walks answers with every length
//! checked once; it knows nothing of conntrack or maps.

/// Netlink header length.
pub const NLMSG_HDRLEN: usize = 16;
/// Netfilter generic header length (family, version, resource id).
pub const NFGEN_HDRLEN: usize = 4;

/// `NLMSG_ERROR`: an error or an acknowledgement.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: end of a multipart answer.
pub const NLMSG_DONE: u16 = 3;

/// `NLM_F_REQUEST`.
pub const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_ACK`.
pub const NLM_F_ACK: u16 = 0x4;
/// `NLM_F_EXCL`.
pub const NLM_F_EXCL: u16 = 0x200;
/// `NLM_F_CREATE`.
pub const NLM_F_CREATE: u16 = 0x400;

/// Attribute type bit marking a nested attribute.
pub const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// A netfilter netlink request under construction.
#[derive(Debug)]
pub struct MessageBuilder {
    buf: Vec<u8>,
    start: usize,
    open_nests: Vec<usize>,
}

impl MessageBuilder {
    /// Starts a message of `msg_type` for protocol `family` in `buf`,
    /// after anything already in it (batches are several messages).
    pub fn new(
        mut buf: Vec<u8>,
        msg_type: u16,
        flags: u16,
        seq: u32,
        family: u8,
        res_id: u16,
    ) -> Self {
        let start = buf.len();
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched in finish
        buf.extend_from_slice(&msg_type.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
        buf.push(family);
        buf.push(0); // NFNETLINK_V0
        buf.extend_from_slice(&res_id.to_be_bytes());
        MessageBuilder {
            buf,
            start,
            open_nests: Vec::new(),
        }
    }

    /// Appends an attribute with a raw payload.
    pub fn attr(&mut self, kind: u16, payload: &[u8]) -> &mut Self {
        let len = 4 + payload.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }

    /// Appends a NUL-terminated string attribute.
    pub fn attr_str(&mut self, kind: u16, value: &str) -> &mut Self {
        let mut payload = Vec::with_capacity(value.len() + 1);
        payload.extend_from_slice(value.as_bytes());
        payload.push(0);
        self.attr(kind, &payload)
    }

    /// Opens a nested attribute; close it with [`MessageBuilder::end_nest`].
    pub fn begin_nest(&mut self, kind: u16) -> &mut Self {
        self.open_nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self
    }

    /// Closes the innermost open nested attribute.
    pub fn end_nest(&mut self) -> &mut Self {
        if let Some(at) = self.open_nests.pop() {
            let len = (self.buf.len() - at) as u16;
            self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        }
        self
    }

    /// Closes the message (and any nest left open) and returns the buffer.
    pub fn finish(mut self) -> Vec<u8> {
        while !self.open_nests.is_empty() {
            self.end_nest();
        }
        let len = (self.buf.len() - self.start) as u32;
        self.buf[self.start..self.start + 4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// One message of a kernel answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// Netlink message type.
    pub msg_type: u16,
    /// Sequence number it answers.
    pub seq: u32,
    /// Everything after the netlink header.
    pub payload: &'a [u8],
}

impl<'a> Message<'a> {
    /// For `NLMSG_ERROR`: the errno (0 is an acknowledgement).
    pub fn error_code(&self) -> Option<i32> {
        if self.msg_type != NLMSG_ERROR {
            return None;
        }
        let bytes = self.payload.get(..4)?;
        let code = i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        Some(-code)
    }

    /// For netfilter messages: the attributes after the generic header.
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes {
            rest: self.payload.get(NFGEN_HDRLEN..).unwrap_or(&[]),
        }
    }
}

/// Why an answer could not be walked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A header claims more bytes than there are.
    #[error("message of {claimed} bytes in {available} bytes")]
    Truncated {
        /// Length the header claims.
        claimed: usize,
        /// Bytes actually left.
        available: usize,
    },
}

/// Iterates over the messages in one datagram from the kernel.
pub fn messages(mut datagram: &[u8]) -> impl Iterator<Item = Result<Message<'_>, WireError>> {
    std::iter::from_fn(move || {
        if datagram.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32::from_ne_bytes([datagram[0], datagram[1], datagram[2], datagram[3]]) as usize;
        if len < NLMSG_HDRLEN || len > datagram.len() {
            let available = datagram.len();
            datagram = &[];
            return Some(Err(WireError::Truncated {
                claimed: len,
                available,
            }));
        }
        let msg = Message {
            msg_type: u16::from_ne_bytes([datagram[4], datagram[5]]),
            seq: u32::from_ne_bytes([datagram[8], datagram[9], datagram[10], datagram[11]]),
            payload: &datagram[NLMSG_HDRLEN..len],
        };
        datagram = datagram.get(align4(len)..).unwrap_or(&[]);
        Some(Ok(msg))
    })
}

/// One attribute: its type (without flag bits) and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// Attribute type.
    pub kind: u16,
    /// Payload bytes.
    pub payload: &'a [u8],
}

impl<'a> Attribute<'a> {
    /// The attributes nested inside this one.
    pub fn nested(&self) -> Attributes<'a> {
        Attributes { rest: self.payload }
    }
}

/// Iterator over a run of attributes; stops at the first malformed one.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Attributes<'a> {
    /// The first attribute of type `kind`.
    pub fn find(&self, kind: u16) -> Option<Attribute<'a>> {
        Iterator::find(&mut self.clone(), |a: &Attribute<'a>| a.kind == kind)
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Attribute<'a>;

    fn next(&mut self) -> Option<Attribute<'a>> {
        let header = self.rest.get(..4)?;
        let len = u16::from_ne_bytes([header[0], header[1]]) as usize;
        let kind = u16::from_ne_bytes([header[2], header[3]]) & NLA_TYPE_MASK;
        let Some(payload) = self.rest.get(4..len.max(4)) else {
            self.rest = &[];
            return None;
        };
        self.rest = self.rest.get(align4(len.max(4))..).unwrap_or(&[]);
        Some(Attribute { kind, payload })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_header_and_nested_attributes() {
        let mut m = MessageBuilder::new(Vec::new(), 0x0101, NLM_F_REQUEST, 7, 2, 0);
        m.begin_nest(2).attr(1, &[1, 2, 3]).end_nest();
        let buf = m.finish();
        assert_eq!(buf.len(), 16 + 4 + 4 + 8);
        assert_eq!(u32::from_ne_bytes(buf[0..4].try_into().unwrap()), 32);
        assert_eq!(u16::from_ne_bytes(buf[4..6].try_into().unwrap()), 0x0101);
        assert_eq!(u32::from_ne_bytes(buf[8..12].try_into().unwrap()), 7);
        assert_eq!(&buf[16..20], &[2, 0, 0, 0]);
        // nest: length 4 + 8 (attribute of 7 bytes padded to 8), flagged nested
        assert_eq!(u16::from_ne_bytes(buf[20..22].try_into().unwrap()), 12);
        assert_eq!(
            u16::from_ne_bytes(buf[22..24].try_into().unwrap()),
            2 | NLA_F_NESTED
        );
        assert_eq!(u16::from_ne_bytes(buf[24..26].try_into().unwrap()), 7);
        assert_eq!(&buf[28..32], &[1, 2, 3, 0]);
    }

    #[test]
    fn walks_what_it_builds() {
        let mut m = MessageBuilder::new(Vec::new(), 0x0a0c, NLM_F_REQUEST, 9, 1, 0);
        m.attr_str(1, "tftp_proxy")
            .begin_nest(3)
            .attr(1, &[9; 5])
            .end_nest();
        let buf = m.finish();
        let msgs: Vec<_> = messages(&buf).collect();
        assert_eq!(msgs.len(), 1);
        let msg = msgs[0].clone().unwrap();
        assert_eq!((msg.msg_type, msg.seq), (0x0a0c, 9));
        let name = msg.attributes().find(1).unwrap();
        assert_eq!(name.payload, b"tftp_proxy\0");
        let nest = msg.attributes().find(3).unwrap();
        assert_eq!(nest.nested().find(1).unwrap().payload, &[9; 5]);
    }

    #[test]
    fn error_message_carries_errno() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&36u32.to_ne_bytes());
        buf.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        buf.extend_from_slice(&[0; 10]);
        buf.extend_from_slice(&(-17i32).to_ne_bytes());
        buf.extend_from_slice(&[0; 16]);
        let msg = messages(&buf).next().unwrap().unwrap();
        assert_eq!(msg.error_code(), Some(17));
    }

    #[test]
    fn truncated_answers_are_reported_not_read() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&64u32.to_ne_bytes());
        buf.extend_from_slice(&[0; 20]);
        let first = messages(&buf).next().unwrap();
        assert_eq!(
            first,
            Err(WireError::Truncated {
                claimed: 64,
                available: 24
            })
        );
        // A lying attribute length ends the walk instead of reading past the end.
        let attrs = Attributes {
            rest: &[200, 0, 1, 0, 5, 5],
        };
        assert_eq!(attrs.count(), 0);
    }
}
