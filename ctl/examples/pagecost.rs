//! What one MiB of page data costs on this CPU at each step of migr's page path (issue 15):
//! the channel's cipher (Noise ChaChaPoly, as `peer::channel`, and AESGCM for comparison),
//! postcard encoding, the all-zero page check, a plain copy. Run it on a machine and in a lab
//! node (`make lab NODES=1 FILES=ctl/target/release/examples/pagecost CMD='/root/pagecost 32'`)
//! to see which figures of the TCG lab carry over to real hardware (README, "Speed").
use std::time::Instant;

const FRAME: usize = 65535;
const TAG: usize = 16;

fn transport(params: &str) -> Result<(snow::TransportState, snow::TransportState), snow::Error> {
    let p: snow::params::NoiseParams = params.parse()?;
    let mut i = snow::Builder::new(p.clone()).build_initiator()?;
    let mut r = snow::Builder::new(p).build_responder()?;
    let (mut a, mut b) = ([0u8; 1024], [0u8; 1024]);
    let n = i.write_message(&[], &mut a)?;
    r.read_message(&a[..n], &mut b)?;
    let n = r.write_message(&[], &mut a)?;
    i.read_message(&a[..n], &mut b)?;
    Ok((i.into_transport_mode()?, r.into_transport_mode()?))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mib: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(64);
    // Pages whose only non-zero byte is their last: the zero check reads all of each.
    let data: Vec<u8> = (0..mib << 20).map(|i| if i % 4096 == 4095 { 1 } else { 0 }).collect();
    let report = |what: &str, t: Instant| {
        let s = t.elapsed().as_secs_f64();
        println!("{what:44} {:8.1} MiB/s  {:7.2} ms/MiB", mib as f64 / s, s * 1000.0 / mib as f64);
    };
    for params in ["Noise_NN_25519_ChaChaPoly_BLAKE2s", "Noise_NN_25519_AESGCM_BLAKE2s"] {
        let cipher = params.split('_').nth(3).unwrap_or(params);
        let (mut tx, mut rx) = transport(params)?;
        let (mut frame, mut plain) = (vec![0u8; FRAME], vec![0u8; FRAME]);
        let mut sealed = Vec::new();
        let t = Instant::now();
        for c in data.chunks(FRAME - TAG) {
            let n = tx.write_message(c, &mut frame)?;
            sealed.push(frame[..n].to_vec());
        }
        report(&format!("encrypt {cipher} (+ a copy)"), t);
        let t = Instant::now();
        for f in &sealed {
            rx.read_message(f, &mut plain)?;
        }
        report(&format!("decrypt {cipher}"), t);
    }
    let t = Instant::now();
    let zeros = data.chunks(4096).filter(|p| p.iter().all(|&b| b == 0)).count();
    std::hint::black_box(zeros);
    report("zero check (bytes)", t);
    let t = Instant::now();
    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(&data);
    std::hint::black_box(&out);
    report("copy", t);
    let t = Instant::now();
    for c in data.chunks(1 << 20) {
        let v = postcard::to_stdvec(&[(0u64, c)])?;
        std::hint::black_box(&v);
    }
    report("postcard encode, bytes one by one (Vec<u8>)", t);
    let t = Instant::now();
    for c in data.chunks(1 << 20) {
        let v = postcard::to_stdvec(&[(0u64, serde_bytes::Bytes::new(c))])?;
        std::hint::black_box(&v);
    }
    report("postcard encode, one byte string (PageBatch)", t);
    Ok(())
}
