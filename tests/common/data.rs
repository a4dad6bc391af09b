//! Test data: digests, generated bodies, and fields of the apps' output.

use md5::Md5;
use sha2::{Digest, Sha256};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub fn md5_hex(data: &[u8]) -> String {
    hex(&Md5::digest(data))
}

/// `n` bytes of a fixed xorshift sequence.
pub fn pseudo_random(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// A 64 KiB-block pattern identical to the one tests/apps/response.wsgi
/// generates for `/big-generator`.
pub fn big_generator_body(size: usize) -> Vec<u8> {
    let block: Vec<u8> = (0..256 * 256).map(|i| (i % 256) as u8).collect();
    let mut out = Vec::with_capacity(size);
    let mut n = 0usize;
    while out.len() < size {
        let take = block.len().min(size - out.len());
        let mut chunk = block[..take].to_vec();
        chunk[0] = (n % 256) as u8;
        n += 1;
        out.extend_from_slice(&chunk);
    }
    out
}

/// The value of `key` in the flat JSON object tests/apps/daemon.wsgi
/// answers `/info` with (strings unquoted).
#[track_caller]
pub fn json_field(body: &str, key: &str) -> String {
    let needle = format!("\"{key}\": ");
    let Some(start) = body.find(&needle) else {
        panic!("{key} not in {body}");
    };
    let rest = &body[start + needle.len()..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim_matches('"').to_string()
}
