//! sha256 digests as lower-case hex: the one form s2f records them in (prediction manifests,
//! converter provenance, training-checkpoint fingerprints).

use std::io::Read;

use sha2::{Digest, Sha256};

/// `bytes` as lower-case hex, two digits per byte.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// sha256 of `bytes`: 64 lower-case hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

/// sha256 of everything `reader` yields, streamed through a 1 MiB buffer (the input is never
/// held whole): 64 lower-case hex digits. Read errors are returned as they are, for the caller
/// to name the source.
pub fn sha256_hex_reader(mut reader: impl Read) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(to_hex(&h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest_in_memory_and_streamed() {
        let want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(sha256_hex(b"abc"), want);
        assert_eq!(sha256_hex_reader(&b"abc"[..]).unwrap(), want);
        assert_eq!(to_hex(&[0x00, 0x0f, 0xff]), "000fff");
    }
}
