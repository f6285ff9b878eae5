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

    /// A masked client frame.
    fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0xa1, 0x5e, 0x07, 0x3c];
        let mut out = vec![first];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
        out
    }

    /// Realistic inputs: requests of both formats in binary and text frames, fragments,
    /// pings, close.
    fn seeds() -> Vec<Vec<u8>> {
        use gremlin::bytecode::Bytecode;
        use gremlin::codec::message::{self, Format, RequestMessage};
        use gremlin::value::{Map, Uuid, Value};
        use std::sync::Arc;
        let mut aliases = Map::default();
        aliases.insert(Value::str("g"), Value::str("gmodern"));
        let mut args = Map::default();
        let bc = Bytecode::default()
            .step("V", vec![])
            .step("has", vec![Value::str("name"), Value::str("marko")]);
        args.insert(Value::str("gremlin"), Value::Bytecode(Arc::new(bc)));
        args.insert(Value::str("aliases"), Value::Map(aliases));
        args.insert(Value::str("batchSize"), Value::Int(2));
        let bytecode = RequestMessage {
            request_id: Uuid([0x11; 16]),
            op: "bytecode".into(),
            processor: "traversal".into(),
            args,
        };
        let mut args = Map::default();
        args.insert(Value::str("gremlin"), Value::str("g.V().count()"));
        args.insert(Value::str("evaluationTimeout"), Value::Long(100));
        let eval = RequestMessage {
            request_id: Uuid([0x22; 16]),
            op: "eval".into(),
            processor: String::new(),
            args,
        };
        let mut out = Vec::new();
        for m in [&bytecode, &eval] {
            for format in [Format::GraphBinaryV1, Format::GraphSonV3] {
                let Ok(frame) = message::encode_request_frame(format, m) else {
                    continue;
                };
                out.push([vec![0xff], masked(0x82, &frame)].concat());
                if let Some((a, b)) = frame.split_at_checked(frame.len() / 2) {
                    let fragmented =
                        [masked(0x02, a), masked(0x89, b"hi"), masked(0x80, b)].concat();
                    out.push([vec![3], fragmented].concat());
                }
            }
            if let Ok(body) = message::encode_request(Format::GraphSonV3, m) {
                out.push([vec![0x40], masked(0x81, &body)].concat());
            }
        }
        out.push([vec![0], masked(0x88, &[0x03, 0xe8])].concat());
        out
    }

    #[test]
    fn seeds_run_clean() {
        for seed in seeds() {
            fuzz_input(&seed);
        }
    }

    /// Regenerates `net/fuzz/seeds/ws_request/`.
    #[test]
    #[ignore]
    fn write_fuzz_seeds() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/ws_request");
        std::fs::create_dir_all(dir).expect("seed dir");
        for (i, seed) in seeds().iter().enumerate() {
            std::fs::write(format!("{dir}/seed-{i:03}"), seed).expect("write seed");
        }
    }

    /// Replays every input that ever failed under the fuzzer.
    #[test]
    fn fuzz_regressions_stay_fixed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/regressions/ws_request");
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                continue;
            }
            let data = std::fs::read(&path).expect("read regression");
            fuzz_input(&data);
        }
    }
}
