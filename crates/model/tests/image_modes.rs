//! Non-RGB images (alpha, palette, grey, 16-bit, colour keys, CMYK) decode to the same
//! `pixel_values` as transformers' slow image processors; fixture from tools/gen_image_modes.py.

use safetensors::{Dtype, SafeTensors};
use vitfuse_model::preprocess::{load_rgb, to_rgb_like_pillow};
use vitfuse_model::ImageProcessor;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/image_modes");

fn fixture() -> serde_json::Value {
    let text = std::fs::read_to_string(format!("{DIR}/fixture.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn expected_bytes() -> Vec<u8> {
    std::fs::read(format!("{DIR}/expected.safetensors")).unwrap()
}

fn f32s(st: &SafeTensors, key: &str) -> Option<(Vec<usize>, Vec<f32>)> {
    let v = st.tensor(key).ok()?;
    assert_eq!(v.dtype(), Dtype::F32, "{key}");
    let data = v.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Some((v.shape().to_vec(), data))
}

fn images(fx: &serde_json::Value) -> Vec<(String, String)> {
    fx["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].as_str().unwrap().to_string(), i["file"].as_str().unwrap().to_string()))
        .collect()
}

/// Every image through every processor: values as transformers' within float rounding (PNG) or
/// one 8-bit step (JPEG, whose decoders differ); images transformers rejects are errors here.
#[test]
fn processors_match_transformers() {
    let fx = fixture();
    let bytes = expected_bytes();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut failures = Vec::new();
    let mut compared = 0;
    for (pname, p) in fx["processors"].as_object().unwrap() {
        let proc = ImageProcessor::from_file(format!("{DIR}/{}", p["config"].as_str().unwrap())).unwrap();
        let want_convert = p["do_convert_rgb"].as_bool().unwrap_or(false);
        assert_eq!(proc.config.do_convert_rgb, want_convert, "{pname}: do_convert_rgb as transformers reads it");
        let c = &proc.config;
        let step = c.rescale_factor / c.image_std.iter().copied().fold(f64::INFINITY, f64::min);
        for (name, file) in images(&fx) {
            let key = format!("{pname}_{name}");
            let path = format!("{DIR}/{file}");
            let rejected = fx["rejected"][pname.as_str()][name.as_str()].as_str();
            let Some((shape, want)) = f32s(&st, &key) else {
                let msg = rejected.unwrap_or_else(|| panic!("{key}: neither in expected.safetensors nor rejected"));
                match proc.preprocess_file(&path) {
                    Ok(_) => failures.push(format!("{key}: accepted; transformers fails with \"{msg}\"")),
                    Err(e) => {
                        let e = e.to_string();
                        println!("{key}: rejected as by transformers: {e}");
                        if !e.contains("do_convert_rgb") || !e.contains(file.as_str()) {
                            failures.push(format!("{key}: unclear error {e}"));
                        }
                    }
                }
                continue;
            };
            let (got_shape, got) = match proc.preprocess_file(&path) {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("{key}: {e}"));
                    continue;
                }
            };
            assert_eq!(got_shape, shape, "{key}");
            let max = got.iter().zip(&want).map(|(a, b)| f64::from((a - b).abs())).fold(0.0, f64::max);
            let tol = if file.ends_with(".jpg") { step + 1e-5 } else { 1e-5 };
            println!("{key}: max abs {max:.3e} ({:.2} 8-bit steps), tolerance {tol:.3e}", max / step);
            if max > tol {
                failures.push(format!("{key}: max abs {max:.4} over {tol:.4}"));
            }
            compared += 1;
        }
    }
    assert!(compared > 40, "only {compared} comparisons");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// Compositing over white, for every channel value under every alpha, bit for bit as Pillow.
#[test]
fn composite_over_white_matches_pillow() {
    let bytes = expected_bytes();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let want = st.tensor("rgba_all_rgb").unwrap();
    assert_eq!(want.dtype(), Dtype::U8);
    let path = format!("{DIR}/rgba_all.png");
    let from_file = load_rgb(&path).unwrap();
    let dynamic = to_rgb_like_pillow(&image::open(&path).unwrap(), true).unwrap();
    assert_eq!([from_file.height, from_file.width, 3], want.shape());
    for (what, got) in [("file", &from_file.data), ("DynamicImage", &dynamic.data)] {
        let bad = got.iter().zip(want.data()).filter(|(a, b)| a != b).count();
        println!("rgba_all ({what}): {bad} of {} values differ from Pillow", got.len());
        assert_eq!(bad, 0, "{what}");
    }
}

/// An `image::DynamicImage` converts as the file it was decoded from, except where a PNG colour
/// key's bit depth matters (Pillow's matching needs the header, which a DynamicImage lacks).
#[test]
fn dynamic_image_converts_as_its_file() {
    let fx = fixture();
    for img in fx["images"].as_array().unwrap() {
        let (name, file) = (img["name"].as_str().unwrap(), img["file"].as_str().unwrap());
        let colour_key = !img["pillow_transparency"].is_null() && img["pillow_mode"] != "P";
        let path = format!("{DIR}/{file}");
        let dynamic = image::open(&path).unwrap();
        for convert in [true, false] {
            let from_file = vitfuse_model::preprocess::load_rgb_with(&path, convert);
            let from_image = to_rgb_like_pillow(&dynamic, convert);
            let mode = img["pillow_mode"].as_str().unwrap();
            match (from_file, from_image) {
                (Ok(a), Ok(b)) if !colour_key => assert!(a == b, "{name} (convert {convert})"),
                (Ok(_), Ok(_)) | (Err(_), Err(_)) => {}
                // palette PNGs and CMYK JPEGs decode to RGB(A) pixels: only the file says otherwise
                (Err(_), Ok(_)) if !convert && matches!(mode, "P" | "CMYK") => {}
                // an RGB PNG with a colour key decodes to RGBA; Pillow's mode is RGB
                (Ok(_), Err(_)) if !convert && colour_key && mode == "RGB" => {}
                (a, b) => panic!("{name} (convert {convert}): file {:?}, image {:?}", a.err(), b.err()),
            }
        }
    }
}
