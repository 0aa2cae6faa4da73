//! Image preprocessing matches the HF CLIP / ViT image processors.

use std::collections::HashMap;

use vitfuse_model::preprocess::{decode_rgb, load_rgb, resize, Resample, ResizeSpec};
use vitfuse_model::{read_host_tensors, HostTensor, ImageProcessor, ModelError, RgbImage};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/image_preprocess"
);
const NAMES: [&str; 3] = ["landscape", "portrait", "small"];

fn expected() -> HashMap<String, HostTensor> {
    read_host_tensors(format!("{DIR}/expected.safetensors")).unwrap()
}

fn compare(kind: &str) {
    let proc = ImageProcessor::from_file(format!("{DIR}/{kind}/preprocessor_config.json")).unwrap();
    let exp = expected();
    for name in NAMES {
        let (shape, got) = proc.preprocess_file(format!("{DIR}/{name}.png")).unwrap();
        let e = &exp[&format!("{kind}_{name}")];
        assert_eq!(shape, e.shape);
        let e = e.as_f32().unwrap();
        let mut sum = 0.0f64;
        let mut max = 0.0f64;
        for (a, b) in got.iter().zip(e) {
            let d = f64::from((a - b).abs());
            sum += d;
            max = max.max(d);
        }
        let mean = sum / got.len() as f64;
        println!("{kind}_{name}: mean abs {mean:.3e}, max abs {max:.3e}");
        assert!(
            mean <= 0.01 && max <= 0.15,
            "{kind}_{name}: mean {mean} max {max}"
        );
        // far tighter than the fixture tolerance
        assert!(
            mean <= 1e-6 && max <= 1e-5,
            "{kind}_{name}: mean {mean} max {max}"
        );
    }
}

#[test]
fn clip_matches_fixture() {
    compare("clip");
}

#[test]
fn vit_matches_fixture() {
    compare("vit");
}

#[test]
fn config_parsing() {
    let clip = ImageProcessor::from_file(format!("{DIR}/clip/preprocessor_config.json")).unwrap();
    assert_eq!(clip.config.size, ResizeSpec::ShortestEdge(224));
    assert_eq!(clip.config.resample, Resample::Bicubic);
    assert!(clip.config.do_center_crop);
    assert_eq!(clip.config.crop_size, (224, 224));
    let vit = ImageProcessor::from_file(format!("{DIR}/vit/preprocessor_config.json")).unwrap();
    assert_eq!(
        vit.config.size,
        ResizeSpec::Exact {
            height: 224,
            width: 224
        }
    );
    assert_eq!(vit.config.resample, Resample::Bilinear);
    assert!(!vit.config.do_center_crop);
    assert_eq!(vit.config.output_size(331, 197), (224, 224));
}

#[test]
fn batch_shape() {
    let proc = ImageProcessor::from_file(format!("{DIR}/clip/preprocessor_config.json")).unwrap();
    let paths: Vec<String> = NAMES.iter().map(|n| format!("{DIR}/{n}.png")).collect();
    let t = proc.preprocess_files(&paths).unwrap();
    assert_eq!(t.shape, vec![3, 3, 224, 224]);
    let exp = expected();
    let plane = 3 * 224 * 224;
    let (_, single) = proc.preprocess_file(&paths[1]).unwrap();
    assert_eq!(&t.as_f32().unwrap()[plane..2 * plane], &single[..]);
    assert_eq!(exp["clip_portrait"].shape, vec![3, 224, 224]);
}

#[test]
fn resize_identity_and_constant() {
    let img = RgbImage::new(5, 4, (0..60).map(|i| (i * 4) as u8).collect()).unwrap();
    assert_eq!(resize(&img, 5, 4, Resample::Bicubic).unwrap(), img);
    let flat = RgbImage::new(7, 3, vec![77; 63]).unwrap();
    for f in [
        Resample::Bilinear,
        Resample::Bicubic,
        Resample::Lanczos,
        Resample::Box,
        Resample::Hamming,
        Resample::Nearest,
    ] {
        let r = resize(&flat, 19, 2, f).unwrap();
        assert!(r.data.iter().all(|&v| v == 77), "{f:?}");
    }
    assert!(resize(&img, 0, 3, Resample::Bilinear).is_err());
}

#[test]
fn undecodable_image() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("preprocess_bad");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("garbage.png");
    std::fs::write(&p, b"definitely not an image").unwrap();
    let err = load_rgb(&p).unwrap_err();
    assert!(matches!(err, ModelError::Image { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("cannot decode image") && msg.contains("garbage.png"),
        "{msg}"
    );

    // a truncated PNG: valid signature, missing data
    let png = std::fs::read(format!("{DIR}/landscape.png")).unwrap();
    let p2 = dir.join("truncated.png");
    std::fs::write(&p2, &png[..png.len() / 2]).unwrap();
    let err = load_rgb(&p2).unwrap_err();
    assert!(err.to_string().contains("truncated.png"), "{err}");

    assert!(matches!(
        decode_rgb(&[]).unwrap_err(),
        ModelError::Image { .. }
    ));
    let err = load_rgb(dir.join("missing.png")).unwrap_err();
    assert!(matches!(err, ModelError::Io { .. }) && err.to_string().contains("missing.png"));
}
