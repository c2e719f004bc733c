//! The protobuf wire format, read only: varints, fixed-width numbers and length-delimited bytes, one field at a
//! time. Knows nothing of Kubernetes types; `decode` gives the values their meaning.

/// One field's raw value as it appears on the wire.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Wire<'a> {
    /// Wire type 0: int32, int64, bool (and enums, which Kubernetes does not use).
    Varint(u64),
    /// Wire type 1: double.
    Fixed64(u64),
    /// Wire type 2: string, bytes, messages, packed repeated numbers.
    Bytes(&'a [u8]),
    /// Wire type 5: float.
    Fixed32(u32),
}

impl Wire<'_> {
    /// The wire type's name, for errors.
    pub fn name(&self) -> &'static str {
        match self {
            Wire::Varint(_) => "varint",
            Wire::Fixed64(_) => "64-bit",
            Wire::Bytes(_) => "length-delimited",
            Wire::Fixed32(_) => "32-bit",
        }
    }
}

/// Reads fields from the bytes of one message.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// The next field's tag number and value, or `None` at the end of the message. The error says what is
    /// malformed.
    pub fn next_field(&mut self) -> Result<Option<(u32, Wire<'a>)>, String> {
        if self.pos == self.bytes.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3).ok().filter(|t| *t > 0).ok_or_else(|| format!("illegal field number {}", key >> 3))?;
        let value = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed64(self.fixed64()?),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length out of range".to_string())?;
                Wire::Bytes(self.take(len)?)
            }
            5 => Wire::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().expect("took 4 bytes"))),
            // Groups (3, 4) are a proto2 feature no Kubernetes type uses; skipping them would need a nested parse.
            other => return Err(format!("unsupported wire type {other} for field {tag}")),
        };
        Ok(Some((tag, value)))
    }

    /// A base-128 varint of at most 10 bytes.
    pub fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.pos).ok_or("unexpected end of data in a varint")?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    /// A little-endian 64-bit number (a double's bits).
    pub fn fixed64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("took 8 bytes")))
    }

    pub fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(len).filter(|end| *end <= self.bytes.len()).ok_or("unexpected end of data")?;
        let taken = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_wire_type() {
        let bytes = [0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i', 0x19, 1, 0, 0, 0, 0, 0, 0, 0, 0x25, 2, 0, 0, 0];
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.next_field().unwrap(), Some((1, Wire::Varint(150))));
        assert_eq!(reader.next_field().unwrap(), Some((2, Wire::Bytes(b"hi"))));
        assert_eq!(reader.next_field().unwrap(), Some((3, Wire::Fixed64(1))));
        assert_eq!(reader.next_field().unwrap(), Some((4, Wire::Fixed32(2))));
        assert_eq!(reader.next_field().unwrap(), None);
    }

    #[test]
    fn rejects_truncation_and_groups() {
        assert!(Reader::new(&[0x12, 0x05, b'a']).next_field().unwrap_err().contains("unexpected end"));
        assert!(Reader::new(&[0x08, 0x80]).next_field().unwrap_err().contains("varint"));
        assert!(Reader::new(&[0x0b]).next_field().unwrap_err().contains("wire type 3"));
        assert!(Reader::new(&[0x00]).next_field().unwrap_err().contains("illegal field number 0"));
        let eleven = [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert!(Reader::new(&eleven).next_field().unwrap_err().contains("longer than 10"));
    }
}
