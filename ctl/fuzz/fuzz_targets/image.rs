//! The state image as a peer sends it (netlink attributes in a restore offer): any attribute
//! list decodes to an image or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migctl::image::{parse_nested, Image};

fuzz_target!(|data: &[u8]| {
    // The input read as one nest of attributes: each becomes a (type, payload) of the image.
    let attrs: Vec<(u16, Vec<u8>)> = parse_nested(data).into_iter().map(|(t, p)| (t, p.to_vec())).collect();
    let _ = Image::from_attrs(attrs);
});
