//! FreeBSD's packed nvlist (libnv), the format of the `pfioc_nv` ioctls:
//! building one, and reading one the kernel wrote. Sans-IO: bytes in,
//! bytes out.
//!
//! The layout is libnv's (sys/contrib/libnv/nvlist.c, nvpair.c;
//! sys/sys/nv.h and nv_impl.h for the type numbers and flags):
//! - a list header of 19 bytes, packed: magic `0x6c`, version 0, flags
//!   (`0x80`: the numbers are big-endian), the count of descriptors (u64)
//!   and the number of bytes that follow the header *to the end of the
//!   whole buffer* (u64; also for a nested list);
//! - pairs, each a 19-byte header (type u8, name size u16 counting the
//!   NUL, data size u64, item count u64), the name and its NUL, the data;
//! - a nested list is a pair of type 5 whose data size is the nested
//!   list's own packed size; the nested header and pairs follow, then a
//!   pair of type 255 (up) named "" closes it;
//! - an array of lists is a pair of type 11 with the item count; each
//!   item is a list header, its pairs, and a pair of type 254 (next).
//!
//! The kernel unpacks with flags 0 (pf_ioctl.c: `nvlist_unpack(..., 0)`),
//! so lists built here carry no public flag. Descriptors never appear in
//! pf's lists and are refused.

use std::fmt;

const HEADER_MAGIC: u8 = 0x6c;
const HEADER_VERSION: u8 = 0;
const FLAG_IGNORE_CASE: u8 = 0x01;
const FLAG_NO_UNIQUE: u8 = 0x02;
const FLAG_BIG_ENDIAN: u8 = 0x80;
/// `struct nvlist_header`, packed.
const LIST_HEADER_LEN: usize = 19;
/// `struct nvpair_header`, packed.
const PAIR_HEADER_LEN: usize = 19;
/// `NV_NAME_MAX`, the longest name with its NUL.
const NAME_MAX: usize = 2048;
/// How deep lists may nest in an answer before it is refused.
const DEPTH_MAX: usize = 32;

const TYPE_NULL: u8 = 1;
const TYPE_BOOL: u8 = 2;
const TYPE_NUMBER: u8 = 3;
const TYPE_STRING: u8 = 4;
const TYPE_NVLIST: u8 = 5;
const TYPE_BINARY: u8 = 7;
const TYPE_BOOL_ARRAY: u8 = 8;
const TYPE_NUMBER_ARRAY: u8 = 9;
const TYPE_STRING_ARRAY: u8 = 10;
const TYPE_NVLIST_ARRAY: u8 = 11;
const TYPE_NVLIST_ARRAY_NEXT: u8 = 254;
const TYPE_NVLIST_UP: u8 = 255;

/// One value of a pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A name without a value.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A 64-bit number.
    Number(u64),
    /// A string (without its NUL).
    String(String),
    /// A nested list.
    List(NvList),
    /// Bytes.
    Binary(Vec<u8>),
    /// Booleans.
    BoolArray(Vec<bool>),
    /// Numbers.
    NumberArray(Vec<u64>),
    /// Strings.
    StringArray(Vec<String>),
    /// Nested lists.
    ListArray(Vec<NvList>),
}

/// An nvlist: named values, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NvList {
    pairs: Vec<(String, Value)>,
}

/// Byte order of a packed list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    /// Little-endian (amd64, arm64).
    Little,
    /// Big-endian (powerpc64): the header's flag `0x80`.
    Big,
}

impl Endian {
    /// The order of the machine this runs on, which the kernel uses.
    pub const NATIVE: Endian = if cfg!(target_endian = "big") {
        Endian::Big
    } else {
        Endian::Little
    };

    fn u16(self, v: u16) -> [u8; 2] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    fn u64(self, v: u64) -> [u8; 8] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    fn read_u16(self, b: [u8; 2]) -> u16 {
        match self {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        }
    }

    fn read_u64(self, b: [u8; 8]) -> u64 {
        match self {
            Endian::Little => u64::from_le_bytes(b),
            Endian::Big => u64::from_be_bytes(b),
        }
    }
}

/// Why bytes are not a packed nvlist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NvError {
    /// The bytes end inside a header, name or value.
    #[error("nvlist cut short at byte {0}")]
    Short(usize),
    /// A list header is not one (magic, version, flags, size).
    #[error("bad nvlist header at byte {0}")]
    Header(usize),
    /// A pair is malformed (type, name, size).
    #[error("bad nvlist pair at byte {0}")]
    Pair(usize),
    /// Lists nest deeper than any pf answer does.
    #[error("nvlist nested too deep")]
    TooDeep,
    /// A nested list is not closed, or closed twice.
    #[error("unbalanced nvlist nesting")]
    Unbalanced,
}

impl NvList {
    /// An empty list.
    pub fn new() -> NvList {
        NvList::default()
    }

    /// Appends `name` = `value` (a builder).
    pub fn with(mut self, name: &str, value: Value) -> NvList {
        self.pairs.push((name.to_owned(), value));
        self
    }

    /// The first value named `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The number named `name`.
    #[cfg_attr(not(test), allow(dead_code))] // pf's answers read here hold none the helper needs yet
    pub fn number(&self, name: &str) -> Option<u64> {
        match self.get(name)? {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The boolean named `name`.
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The string named `name`.
    pub fn string(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The nested list named `name`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn list(&self, name: &str) -> Option<&NvList> {
        match self.get(name)? {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The packed size of this list alone (libnv's `nvlist_size`): what a
    /// pair holding it declares as its data size.
    fn packed_size(&self) -> usize {
        LIST_HEADER_LEN
            + self
                .pairs
                .iter()
                .map(|(name, value)| PAIR_HEADER_LEN + name.len() + 1 + value.packed_size())
                .sum::<usize>()
    }

    /// Packs the list in `endian` order.
    pub fn pack_with(&self, endian: Endian) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.packed_size());
        let mut headers = Vec::new();
        self.pack_into(&mut out, &mut headers, endian);
        // Each header's size field counts every byte after it to the end
        // of the buffer, known only now.
        let total = out.len();
        for at in headers {
            let rest = (total - at - LIST_HEADER_LEN) as u64;
            out[at + 11..at + 19].copy_from_slice(&endian.u64(rest));
        }
        out
    }

    /// Packs the list in the machine's order, as the kernel reads it.
    pub fn pack(&self) -> Vec<u8> {
        self.pack_with(Endian::NATIVE)
    }

    fn pack_into(&self, out: &mut Vec<u8>, headers: &mut Vec<usize>, endian: Endian) {
        headers.push(out.len());
        out.push(HEADER_MAGIC);
        out.push(HEADER_VERSION);
        out.push(match endian {
            Endian::Little => 0,
            Endian::Big => FLAG_BIG_ENDIAN,
        });
        out.extend_from_slice(&endian.u64(0)); // descriptors
        out.extend_from_slice(&endian.u64(0)); // size, patched in pack_with
        for (name, value) in &self.pairs {
            let (kind, datasize, nitems) = value.header();
            pair_header(out, endian, kind, name, datasize as u64, nitems as u64);
            match value {
                Value::Null => {}
                Value::Bool(b) => out.push(u8::from(*b)),
                Value::Number(n) => out.extend_from_slice(&endian.u64(*n)),
                Value::String(s) => {
                    out.extend_from_slice(s.as_bytes());
                    out.push(0);
                }
                Value::List(list) => {
                    list.pack_into(out, headers, endian);
                    pair_header(out, endian, TYPE_NVLIST_UP, "", 0, 0);
                }
                Value::Binary(b) => out.extend_from_slice(b),
                Value::BoolArray(v) => out.extend(v.iter().map(|b| u8::from(*b))),
                Value::NumberArray(v) => {
                    for n in v {
                        out.extend_from_slice(&endian.u64(*n));
                    }
                }
                Value::StringArray(v) => {
                    for s in v {
                        out.extend_from_slice(s.as_bytes());
                        out.push(0);
                    }
                }
                Value::ListArray(v) => {
                    for list in v {
                        list.pack_into(out, headers, endian);
                        pair_header(out, endian, TYPE_NVLIST_ARRAY_NEXT, "", 0, 0);
                    }
                }
            }
        }
    }

    /// Reads a packed list (either byte order).
    pub fn unpack(bytes: &[u8]) -> Result<NvList, NvError> {
        Reader { bytes, at: 0 }.list()
    }
}

fn pair_header(out: &mut Vec<u8>, endian: Endian, kind: u8, name: &str, size: u64, n: u64) {
    out.push(kind);
    out.extend_from_slice(&endian.u16((name.len() + 1) as u16));
    out.extend_from_slice(&endian.u64(size));
    out.extend_from_slice(&endian.u64(n));
    out.extend_from_slice(name.as_bytes());
    out.push(0);
}

impl Value {
    /// The pair header's type, data size and item count.
    fn header(&self) -> (u8, usize, usize) {
        match self {
            Value::Null => (TYPE_NULL, 0, 0),
            Value::Bool(_) => (TYPE_BOOL, 1, 0),
            Value::Number(_) => (TYPE_NUMBER, 8, 0),
            Value::String(s) => (TYPE_STRING, s.len() + 1, 0),
            Value::List(l) => (TYPE_NVLIST, l.packed_size(), 0),
            Value::Binary(b) => (TYPE_BINARY, b.len(), 0),
            Value::BoolArray(v) => (TYPE_BOOL_ARRAY, v.len(), v.len()),
            Value::NumberArray(v) => (TYPE_NUMBER_ARRAY, 8 * v.len(), v.len()),
            Value::StringArray(v) => (
                TYPE_STRING_ARRAY,
                v.iter().map(|s| s.len() + 1).sum(),
                v.len(),
            ),
            // libnv leaves an array of lists' data size at 0.
            Value::ListArray(v) => (TYPE_NVLIST_ARRAY, 0, v.len()),
        }
    }

    /// The bytes after the pair's name: the data, or for nested lists
    /// their headers, pairs and closing pairs.
    fn packed_size(&self) -> usize {
        match self {
            Value::List(l) => l.packed_size() + PAIR_HEADER_LEN + 1,
            Value::ListArray(v) => v
                .iter()
                .map(|l| l.packed_size() + PAIR_HEADER_LEN + 1)
                .sum(),
            other => other.header().1,
        }
    }
}

/// A list being read: its pairs so far and, for a nested one, how it
/// hangs below its parent.
struct Frame {
    list: NvList,
    parent: Slot,
}

enum Slot {
    /// The outermost list.
    Root,
    /// A nested list named so in its parent.
    Named(String),
    /// An item of an array of lists named so, `count` items long.
    Item {
        name: String,
        count: usize,
        done: Vec<NvList>,
    },
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], NvError> {
        let end = self.at.checked_add(n).ok_or(NvError::Short(self.at))?;
        let slice = self
            .bytes
            .get(self.at..end)
            .ok_or(NvError::Short(self.at))?;
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], NvError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// A list header; its byte order.
    fn list_header(&mut self) -> Result<Endian, NvError> {
        let start = self.at;
        let h: [u8; LIST_HEADER_LEN] = self.array()?;
        let flags = h[2];
        let endian = if flags & FLAG_BIG_ENDIAN != 0 {
            Endian::Big
        } else {
            Endian::Little
        };
        let mut size = [0u8; 8];
        size.copy_from_slice(&h[11..19]);
        let rest = (self.bytes.len() - self.at) as u64;
        let known = FLAG_BIG_ENDIAN | FLAG_IGNORE_CASE | FLAG_NO_UNIQUE;
        if h[0] != HEADER_MAGIC
            || h[1] != HEADER_VERSION
            || flags & !known != 0
            || endian.read_u64(size) != rest
        {
            return Err(NvError::Header(start));
        }
        Ok(endian)
    }

    fn list(&mut self) -> Result<NvList, NvError> {
        let mut endian = self.list_header()?;
        let mut stack = vec![Frame {
            list: NvList::new(),
            parent: Slot::Root,
        }];
        while self.at < self.bytes.len() {
            let start = self.at;
            let kind = self.take(1)?[0];
            let namesize = endian.read_u16(self.array()?) as usize;
            let datasize = endian.read_u64(self.array()?);
            let nitems = endian.read_u64(self.array()?);
            if namesize == 0 || namesize > NAME_MAX {
                return Err(NvError::Pair(start));
            }
            let name = self.take(namesize)?;
            let Some((0, name)) = name.split_last() else {
                return Err(NvError::Pair(start));
            };
            if name.contains(&0) {
                return Err(NvError::Pair(start));
            }
            let name = String::from_utf8_lossy(name).into_owned();
            if datasize > (self.bytes.len() - self.at) as u64 {
                return Err(NvError::Short(self.at));
            }
            let datasize = datasize as usize;
            let value = match kind {
                TYPE_NVLIST_UP => {
                    let frame = stack.pop().ok_or(NvError::Unbalanced)?;
                    let Slot::Named(name) = frame.parent else {
                        return Err(NvError::Unbalanced);
                    };
                    let parent = stack.last_mut().ok_or(NvError::Unbalanced)?;
                    parent.list.pairs.push((name, Value::List(frame.list)));
                    continue;
                }
                TYPE_NVLIST_ARRAY_NEXT => {
                    let frame = stack.pop().ok_or(NvError::Unbalanced)?;
                    let Slot::Item {
                        name,
                        count,
                        mut done,
                    } = frame.parent
                    else {
                        return Err(NvError::Unbalanced);
                    };
                    done.push(frame.list);
                    if done.len() < count {
                        endian = self.list_header()?;
                        stack.push(Frame {
                            list: NvList::new(),
                            parent: Slot::Item { name, count, done },
                        });
                    } else {
                        let parent = stack.last_mut().ok_or(NvError::Unbalanced)?;
                        parent.list.pairs.push((name, Value::ListArray(done)));
                    }
                    continue;
                }
                TYPE_NVLIST | TYPE_NVLIST_ARRAY => {
                    if stack.len() >= DEPTH_MAX {
                        return Err(NvError::TooDeep);
                    }
                    let count = nitems as usize;
                    let parent = if kind == TYPE_NVLIST {
                        if datasize == 0 {
                            return Err(NvError::Pair(start));
                        }
                        Slot::Named(name)
                    } else {
                        if count == 0 || count > self.bytes.len() {
                            return Err(NvError::Pair(start));
                        }
                        Slot::Item {
                            name,
                            count,
                            done: Vec::new(),
                        }
                    };
                    endian = self.list_header()?;
                    stack.push(Frame {
                        list: NvList::new(),
                        parent,
                    });
                    continue;
                }
                _ => self.value(kind, datasize, nitems, endian, start)?,
            };
            stack
                .last_mut()
                .ok_or(NvError::Unbalanced)?
                .list
                .pairs
                .push((name, value));
        }
        match (stack.pop(), stack.is_empty()) {
            (
                Some(Frame {
                    list,
                    parent: Slot::Root,
                }),
                true,
            ) => Ok(list),
            _ => Err(NvError::Unbalanced),
        }
    }

    /// A plain value of `kind` with `size` bytes of data.
    fn value(
        &mut self,
        kind: u8,
        size: usize,
        nitems: u64,
        endian: Endian,
        start: usize,
    ) -> Result<Value, NvError> {
        let bad = NvError::Pair(start);
        let items = usize::try_from(nitems).map_err(|_| bad.clone())?;
        let data = self.take(size)?;
        Ok(match kind {
            TYPE_NULL if size == 0 => Value::Null,
            TYPE_BOOL if size == 1 && data[0] <= 1 => Value::Bool(data[0] == 1),
            TYPE_NUMBER if size == 8 => {
                Value::Number(endian.read_u64(data.try_into().unwrap_or_default()))
            }
            TYPE_STRING => Value::String(string(data).ok_or(bad)?),
            TYPE_BINARY if size > 0 => Value::Binary(data.to_vec()),
            TYPE_BOOL_ARRAY if items > 0 && size == items && data.iter().all(|b| *b <= 1) => {
                Value::BoolArray(data.iter().map(|b| *b == 1).collect())
            }
            TYPE_NUMBER_ARRAY if items > 0 && Some(size) == items.checked_mul(8) => {
                Value::NumberArray(
                    data.chunks_exact(8)
                        .map(|c| endian.read_u64(c.try_into().unwrap_or_default()))
                        .collect(),
                )
            }
            TYPE_STRING_ARRAY if items > 0 => {
                let parts: Vec<&[u8]> = data.split_inclusive(|b| *b == 0).collect();
                if parts.len() != items {
                    return Err(bad);
                }
                Value::StringArray(
                    parts
                        .into_iter()
                        .map(string)
                        .collect::<Option<Vec<_>>>()
                        .ok_or(bad)?,
                )
            }
            _ => return Err(bad),
        })
    }
}

/// A NUL-terminated string holding no other NUL.
fn string(data: &[u8]) -> Option<String> {
    let (0, text) = data.split_last()? else {
        return None;
    };
    (!text.contains(&0)).then(|| String::from_utf8_lossy(text).into_owned())
}

impl fmt::Display for NvList {
    /// `name=value` pairs, nested lists in braces: for logs and tests.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{")?;
        for (i, (name, value)) in self.pairs.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{name}=")?;
            match value {
                Value::List(l) => write!(f, "{l}")?,
                other => write!(f, "{other:?}")?,
            }
        }
        write!(f, "}}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian pair header written out by hand from libnv's
    /// `struct nvpair_header`.
    fn le_pair(kind: u8, name: &str, size: u64, n: u64) -> Vec<u8> {
        let mut b = vec![kind];
        b.extend_from_slice(&((name.len() + 1) as u16).to_le_bytes());
        b.extend_from_slice(&size.to_le_bytes());
        b.extend_from_slice(&n.to_le_bytes());
        b.extend_from_slice(name.as_bytes());
        b.push(0);
        b
    }

    fn le_header(rest: u64) -> Vec<u8> {
        let mut b = vec![0x6c, 0, 0];
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&rest.to_le_bytes());
        b
    }

    #[test]
    fn a_flat_list_is_libnvs_bytes() {
        let list = NvList::new()
            .with("nr", Value::Number(3))
            .with("anchor", Value::String(String::new()))
            .with("clear", Value::Bool(false));
        let mut body = le_pair(3, "nr", 8, 0);
        body.extend_from_slice(&3u64.to_le_bytes());
        body.extend(le_pair(4, "anchor", 1, 0));
        body.push(0);
        body.extend(le_pair(2, "clear", 1, 0));
        body.push(0);
        let mut expected = le_header(body.len() as u64);
        expected.extend(body);
        assert_eq!(list.pack_with(Endian::Little), expected);
        assert_eq!(NvList::unpack(&expected).unwrap(), list);
    }

    #[test]
    fn a_nested_list_closes_with_an_up_pair() {
        let inner = NvList::new().with("id", Value::Number(0));
        let list = NvList::new().with("cmp", Value::List(inner.clone()));
        // header | pair "cmp" (size = inner alone) | inner header | "id" | up
        let inner_len = 19 + 19 + 3 + 8;
        let mut expected = le_header((19 + 4 + inner_len + 20) as u64);
        expected.extend(le_pair(5, "cmp", inner_len as u64, 0));
        expected.extend(le_header((19 + 3 + 8 + 20) as u64));
        expected.extend(le_pair(3, "id", 8, 0));
        expected.extend_from_slice(&0u64.to_le_bytes());
        expected.extend(le_pair(255, "", 0, 0));
        assert_eq!(list.pack_with(Endian::Little), expected);
        assert_eq!(NvList::unpack(&expected).unwrap(), list);
    }

    #[test]
    fn big_endian_lists_say_so_and_read_back() {
        let list = NvList::new()
            .with("port", Value::NumberArray(vec![0x4500, 0]))
            .with(
                "src",
                Value::List(NvList::new().with("neg", Value::Number(1))),
            );
        let packed = list.pack_with(Endian::Big);
        assert_eq!(packed[2], 0x80);
        assert_eq!(
            &packed[3 + 8..19],
            &((packed.len() - 19) as u64).to_be_bytes()
        );
        assert_eq!(NvList::unpack(&packed).unwrap(), list);
    }

    #[test]
    fn every_kind_of_value_round_trips() {
        let item = |n| NvList::new().with("n", Value::Number(n));
        let list = NvList::new()
            .with("null", Value::Null)
            .with("binary", Value::Binary(vec![1, 2, 3]))
            .with("bools", Value::BoolArray(vec![true, false]))
            .with("names", Value::StringArray(vec!["a".into(), String::new()]))
            .with(
                "items",
                Value::ListArray(vec![item(1), NvList::new(), item(3)]),
            )
            .with("after", Value::String("x".into()));
        for endian in [Endian::Little, Endian::Big] {
            assert_eq!(NvList::unpack(&list.pack_with(endian)).unwrap(), list);
        }
    }

    #[test]
    fn an_array_of_lists_is_items_and_next_pairs() {
        let list = NvList::new().with("c", Value::ListArray(vec![NvList::new(), NvList::new()]));
        let packed = list.pack_with(Endian::Little);
        let mut expected = le_header((19 + 2 + 2 * (19 + 20)) as u64);
        expected.extend(le_pair(11, "c", 0, 2));
        expected.extend(le_header((2 * 20 + 19) as u64));
        expected.extend(le_pair(254, "", 0, 0));
        expected.extend(le_header(20));
        expected.extend(le_pair(254, "", 0, 0));
        assert_eq!(packed, expected);
        assert_eq!(NvList::unpack(&packed).unwrap(), list);
    }

    #[test]
    fn malformed_bytes_are_refused_not_trusted() {
        let good = NvList::new()
            .with("s", Value::String("ab".into()))
            .with("l", Value::List(NvList::new()))
            .pack_with(Endian::Little);
        // Every truncation is an error, never a panic or a partial list.
        for len in 0..good.len() {
            assert!(NvList::unpack(&good[..len]).is_err(), "{len}");
        }
        let mut magic = good.clone();
        magic[0] = 0x6d;
        assert_eq!(NvList::unpack(&magic), Err(NvError::Header(0)));
        let mut flags = good.clone();
        flags[2] = 0x04;
        assert_eq!(NvList::unpack(&flags), Err(NvError::Header(0)));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(NvList::unpack(&trailing), Err(NvError::Header(0)));
        // A string without its NUL.
        let mut unterminated = le_header(19 + 2 + 2);
        unterminated.extend(le_pair(4, "s", 2, 0));
        unterminated.extend_from_slice(b"ab");
        assert_eq!(NvList::unpack(&unterminated), Err(NvError::Pair(19)));
        // An up pair with nothing to close.
        let mut up = le_header(20);
        up.extend(le_pair(255, "", 0, 0));
        assert_eq!(NvList::unpack(&up), Err(NvError::Unbalanced));
        // A descriptor (type 6) never comes from pf.
        let mut fd = le_header(19 + 2 + 8);
        fd.extend(le_pair(6, "f", 8, 0));
        fd.extend_from_slice(&0u64.to_le_bytes());
        assert_eq!(NvList::unpack(&fd), Err(NvError::Pair(19)));
    }

    #[test]
    fn lookups_by_name_and_kind() {
        let list = NvList::new()
            .with("running", Value::Bool(true))
            .with("nr", Value::Number(7))
            .with("anchor_call", Value::String("tftp-proxy/*".into()));
        assert_eq!(list.bool("running"), Some(true));
        assert_eq!(list.number("nr"), Some(7));
        assert_eq!(list.number("running"), None);
        assert_eq!(list.string("anchor_call"), Some("tftp-proxy/*"));
        assert_eq!(list.list("nr"), None);
        assert_eq!(
            list.to_string(),
            "{running=Bool(true), nr=Number(7), anchor_call=String(\"tftp-proxy/*\")}"
        );
    }
}
