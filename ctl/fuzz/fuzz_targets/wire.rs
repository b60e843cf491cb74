//! What a peer's daemon sends, after the channel's decryption: any bytes must decode to a
//! message or an error (never a panic, never an allocation out of proportion to the input),
//! a message must encode back to bytes that decode to the same message, and a restore offer
//! goes on to the image decoder the target runs on it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migctl::image::Image;
use migctl::peer::proto::{Request, Response};

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = postcard::from_bytes::<Request>(data) {
        let again = postcard::to_stdvec(&req).expect("a decoded request encodes");
        assert_eq!(postcard::from_bytes::<Request>(&again).ok().as_ref(), Some(&req));
        if let Request::Restore(offer) = req {
            let _ = Image::from_attrs(offer.attrs);
        }
    }
    let _ = postcard::from_bytes::<Response>(data);
});
