//! Fuzzing entry point: arbitrary bytes through the WebSocket decoder, the mime prefix, the
//! request codecs, request validation and the encoding of the answer — everything the server
//! does with untrusted input before the engine. Used by `net/fuzz` (cargo-fuzz) and by the
//! randomized tests; it must never panic.

use crate::config::Config;
use crate::server::validate_request;
use crate::wire::{split_mime, status_response, DecodeError, Serializers};
use crate::ws::{Decoder, Limits, Message};

/// Largest frame and message the fuzzed decoder accepts (small, so limits are hit).
const FUZZ_MESSAGE_BYTES_MAX: usize = 64 * 1024;

/// Runs `data` through the server's input path. The first byte picks the chunking of the
/// rest, so partial frames are exercised too.
pub fn fuzz_input(data: &[u8]) {
    let Some((&chunk_seed, rest)) = data.split_first() else {
        return;
    };
    let chunk_bytes = 1 + usize::from(chunk_seed);
    let serializers = Serializers::standard();
    let config = Config::default();
    let mut decoder = Decoder::new(Limits {
        frame_size_bytes_max: FUZZ_MESSAGE_BYTES_MAX,
        message_size_bytes_max: FUZZ_MESSAGE_BYTES_MAX,
    });
    for chunk in rest.chunks(chunk_bytes) {
        decoder.buffer(chunk);
        loop {
            let (serializer, body) = match decoder.next_message() {
                Err(_) | Ok(None) => break,
                Ok(Some(Message::Binary(frame))) => match split_mime(&frame) {
                    Some((mime, body)) => (serializers.for_mime(mime).clone(), body.to_vec()),
                    None => continue,
                },
                Ok(Some(Message::Text(body))) => match serializers.text() {
                    Some(s) => (s.clone(), body),
                    None => continue,
                },
                Ok(Some(_)) => continue,
            };
            let answer = match serializer.decode_request(&body) {
                Ok(m) => match validate_request(&m, &config) {
                    Ok(_) => status_response(Some(m.request_id), 204, ""),
                    Err((code, msg)) => status_response(Some(m.request_id), code, msg),
                },
                Err(DecodeError::Value(id, msg)) => status_response(Some(id), 497, msg),
                Err(DecodeError::Malformed(msg)) => status_response(None, 498, msg),
            };
            let _ = serializer.encode_response(&answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_inputs_do_not_panic() {
        let mut x: u64 = 0xdead_beef;
        let mut next = move || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        // A masked binary frame holding a GraphBinary eval request, to mutate.
        let mut body = vec![0x20];
        body.extend_from_slice(b"application/vnd.graphbinary-v1.0");
        body.push(0x81);
        body.extend_from_slice(&[3u8; 16]);
        body.extend_from_slice(&[0, 0, 0, 4]);
        body.extend_from_slice(b"eval");
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1, 0x03, 0, 0, 0, 0, 7]);
        body.extend_from_slice(b"gremlin");
        body.extend_from_slice(&[0x03, 0, 0, 0, 0, 3]);
        body.extend_from_slice(b"g.V");
        let mut frame = vec![0x82, 0x80 | body.len() as u8, 0, 0, 0, 0];
        frame.extend_from_slice(&body);
        for round in 0..2000 {
            let mut input = vec![next() as u8];
            if round % 3 == 0 {
                input.extend((0..next() % 300).map(|_| next() as u8));
            } else {
                let mut f = frame.clone();
                for _ in 0..1 + next() % 3 {
                    let at = (next() as usize) % f.len();
                    f[at] = next() as u8;
                }
                input.extend(f);
            }
            fuzz_input(&input);
        }
    }
}
