//! Where the time of a page batch goes on this CPU: the Noise ciphers, postcard, the zero
//! check, a copy. Run inside a lab node (TCG) to compare with the host.
use std::time::Instant;

fn transport(params: &str) -> (snow::TransportState, snow::TransportState) {
    let p: snow::params::NoiseParams = params.parse().unwrap();
    let mut i = snow::Builder::new(p.clone()).build_initiator().unwrap();
    let mut r = snow::Builder::new(p).build_responder().unwrap();
    let (mut a, mut b) = ([0u8; 1024], [0u8; 1024]);
    let n = i.write_message(&[], &mut a).unwrap();
    r.read_message(&a[..n], &mut b).unwrap();
    let n = r.write_message(&[], &mut a).unwrap();
    i.read_message(&a[..n], &mut b).unwrap();
    (i.into_transport_mode().unwrap(), r.into_transport_mode().unwrap())
}

fn main() {
    let mib: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(64);
    let data: Vec<u8> = (0..mib << 20).map(|i| (i * 7 + 1) as u8).collect();
    let rate = |what: &str, t: Instant| {
        let s = t.elapsed().as_secs_f64();
        println!("{what:40} {:8.1} MiB/s", mib as f64 / s);
    };
    for params in ["Noise_NN_25519_ChaChaPoly_BLAKE2s", "Noise_NN_25519_AESGCM_BLAKE2s"] {
        let (mut tx, mut rx) = transport(params);
        let mut frame = vec![0u8; 65535];
        let mut plain = vec![0u8; 65535];
        let t = Instant::now();
        for c in data.chunks(65535 - 16) {
            let n = tx.write_message(c, &mut frame).unwrap();
            std::hint::black_box(&frame[..n]);
        }
        rate(&format!("encrypt {}", &params[15..]), t);
        let (mut tx, mut rx) = transport(params);
        let t = Instant::now();
        for c in data.chunks(65535 - 16) {
            let n = tx.write_message(c, &mut frame).unwrap();
            rx.read_message(&frame[..n], &mut plain).unwrap();
        }
        rate(&format!("encrypt+decrypt {}", &params[15..]), t);
    }
    let t = Instant::now();
    let mut zeros = 0;
    for p in data.chunks(4096) {
        if p.iter().all(|&b| b == 0) {
            zeros += 1;
        }
    }
    std::hint::black_box(zeros);
    rate("zero check iter().all (byte)", t);
    let t = Instant::now();
    let mut zeros = 0;
    for p in data.chunks(4096) {
        let (pre, mid, post) = unsafe { p.align_to::<u64>() };
        if pre.iter().all(|&b| b == 0) && mid.iter().all(|&w| w == 0) && post.iter().all(|&b| b == 0) {
            zeros += 1;
        }
    }
    std::hint::black_box(zeros);
    rate("zero check u64 words", t);
    let t = Instant::now();
    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(&data);
    std::hint::black_box(&out);
    rate("copy", t);
    let t = Instant::now();
    for c in data.chunks(1 << 20) {
        let b = (0u64, c.to_vec());
        let v = postcard::to_stdvec(&vec![b]).unwrap();
        std::hint::black_box(&v);
    }
    rate("postcard to_stdvec 1 MiB (with to_vec)", t);
}
