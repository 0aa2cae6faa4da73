//! Image preprocessing matches the HF CLIP / ViT image processors.

use std::collections::HashMap;

use vitfuse_model::preprocess::{decode_rgb, load_rgb, resize, Resample, ResizeSpec};
use vitfuse_model::{read_host_tensors, HostTensor, ImageProcessor, ImageProcessorConfig, ModelError, RgbImage};

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
fn deit_and_bit_processors() {
    // The files of facebook/deit-*-distilled-patch16-224 and facebook/dinov2-*.
    let deit = ImageProcessorConfig::from_json_str(
        r#"{"image_processor_type": "DeiTImageProcessor", "size": {"height": 256, "width": 256}, "resample": 3,
            "do_center_crop": true, "crop_size": {"height": 224, "width": 224}, "image_mean": [0.485, 0.456, 0.406],
            "image_std": [0.229, 0.224, 0.225]}"#,
        std::path::Path::new("deit.json"),
    )
    .unwrap();
    assert_eq!(deit, ImageProcessorConfig { processor_type: "DeiTImageProcessor".into(), ..ImageProcessorConfig::deit_checkpoint() });
    assert_eq!((deit.size, deit.resample, deit.crop_size, deit.do_convert_rgb), (ResizeSpec::Exact { height: 256, width: 256 }, Resample::Bicubic, (224, 224), false));
    let bit = ImageProcessorConfig::from_json_str(
        r#"{"image_processor_type": "BitImageProcessor", "size": {"shortest_edge": 256}, "resample": 3, "do_center_crop": true,
            "crop_size": {"height": 224, "width": 224}, "do_convert_rgb": true, "image_mean": [0.485, 0.456, 0.406],
            "image_std": [0.229, 0.224, 0.225]}"#,
        std::path::Path::new("bit.json"),
    )
    .unwrap();
    assert_eq!(bit, ImageProcessorConfig::dinov2_checkpoint());
    assert_eq!(bit.output_size(640, 480), (224, 224));
    // The classes' own defaults where a file says nothing: DeiT mean = std = 0.5, Bit CLIP's.
    let p = std::path::Path::new("x.json");
    let d = ImageProcessorConfig::from_json_str(r#"{"image_processor_type": "DeiTImageProcessor"}"#, p).unwrap();
    assert_eq!((d.image_mean, d.size, d.crop_size), ([0.5; 3], ResizeSpec::Exact { height: 256, width: 256 }, (224, 224)));
    let b = ImageProcessorConfig::from_json_str(r#"{"image_processor_type": "BitImageProcessorFast"}"#, p).unwrap();
    assert_eq!((b.size, b.image_mean, b.do_convert_rgb), (ResizeSpec::ShortestEdge(224), ImageProcessorConfig::clip_default().image_mean, true));
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

const VILT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/vilt_preprocess");

/// ViLT's processor: per-image sizes from the shorter-side target, the longer-side cap and the
/// divisor, then the batch padded bottom/right with zeros and its pixel mask, as transformers.
#[test]
fn vilt_matches_fixture() {
    let exp = read_host_tensors(format!("{VILT}/expected.safetensors")).unwrap();
    let paths: Vec<String> = ["tall", "wide", "strip", "square"].iter().map(|n| format!("{VILT}/{n}.png")).collect();
    for key in ["a", "b"] {
        let proc = ImageProcessor::from_file(format!("{VILT}/{key}")).unwrap();
        assert!(proc.config.do_pad);
        assert!(matches!(proc.config.size, ResizeSpec::ShortestEdgeDivisible { .. }));
        let imgs: Vec<RgbImage> = paths.iter().map(|p| proc.load(p).unwrap()).collect();
        let (px, mask) = proc.preprocess_batch_masked(&imgs).unwrap();
        let (ev, em) = (&exp[&format!("{key}_pixel_values")], &exp[&format!("{key}_pixel_mask")]);
        assert_eq!(px.shape, ev.shape, "{key}");
        assert_eq!(mask.shape, em.shape, "{key}");
        assert_eq!(mask.as_i64().unwrap(), em.as_i64().unwrap(), "{key}: pixel_mask");
        let max = px.as_f32().unwrap().iter().zip(ev.as_f32().unwrap()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        println!("vilt {key}: max abs {max:.3e}");
        assert!(max <= 1e-5, "{key}: max abs {max}");
        // the padded batch without the mask is the same tensor
        assert_eq!(proc.preprocess_batch(&imgs).unwrap().shape, ev.shape);
    }
}

#[test]
fn vilt_size_rules() {
    let proc = ImageProcessor::from_file(format!("{VILT}/a")).unwrap();
    assert_eq!(
        proc.config.size,
        ResizeSpec::ShortestEdgeDivisible { shortest_edge: 48, longest_edge: 79, size_divisor: 16 }
    );
    // (h, w) for a (w, h) image: shorter side 48, longer capped at 79, both floored to 16
    assert_eq!(proc.config.output_size(37, 53), (64, 48));
    assert_eq!(proc.config.output_size(160, 80), (32, 64));
    // a strip whose shorter side rounds down to 0 is refused, as transformers refuses it
    let strip = RgbImage { width: 300, height: 45, data: vec![128; 300 * 45 * 3] };
    let e = proc.preprocess(&strip).unwrap_err();
    assert!(matches!(e, ModelError::InvalidInput(_)) && e.to_string().contains("too narrow"), "{e}");
    // without do_pad, differently sized images cannot share a batch
    let mut cfg = proc.config.clone();
    cfg.do_pad = false;
    let square = RgbImage { width: 20, height: 20, data: vec![0; 1200] };
    let tall = RgbImage { width: 20, height: 40, data: vec![0; 2400] };
    assert!(ImageProcessor::new(cfg).preprocess_batch(&[square, tall]).is_err());
    // the defaults: shorter side 384, longer at most 639, multiples of 32
    let d = vitfuse_model::ImageProcessorConfig::vilt_default();
    assert_eq!(d.size, ResizeSpec::ShortestEdgeDivisible { shortest_edge: 384, longest_edge: 639, size_divisor: 32 });
    assert_eq!(d.output_size(640, 480), (384, 512));
}

/// Pillow's own resize over 48 random size pairs (both axes shrinking in either proportion, one
/// growing, both growing): equal to the byte, which pins the order of its two rounding passes.
#[test]
fn resize_matches_pillow_pass_order() {
    let t = read_host_tensors(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/pil_resize.safetensors")).unwrap();
    let cases = t["cases"].as_i64().unwrap();
    let n = cases.len() / 5;
    assert_eq!(n, 48);
    for i in 0..n {
        let c: Vec<usize> = cases[i * 5..i * 5 + 5].iter().map(|&v| v as usize).collect();
        let to_u8 = |k: &str| t[k].as_f32().unwrap().iter().map(|&v| v as u8).collect::<Vec<u8>>();
        let img = RgbImage { width: c[0], height: c[1], data: to_u8(&format!("in_{i}")) };
        let f = if c[4] == 2 { Resample::Bilinear } else { Resample::Bicubic };
        let got = resize(&img, c[2], c[3], f).unwrap();
        assert_eq!(got.data, to_u8(&format!("out_{i}")), "case {i}: {}x{} -> {}x{} {f:?}", c[0], c[1], c[2], c[3]);
    }
}

/// SigLIP 2's processor: each image at the largest multiple-of-patch size with at most
/// `max_num_patches` patches, cut into flattened (py, px, c) patches, padded, with its grid.
#[test]
fn siglip2_matches_fixture() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/siglip2_preprocess");
    let exp = read_host_tensors(format!("{dir}/expected.safetensors")).unwrap();
    for key in ["a", "b"] {
        let proc = ImageProcessor::from_file(format!("{dir}/{key}")).unwrap();
        let (patch, max) = proc.config.naflex.unwrap();
        let items: Vec<_> = NAMES.iter().map(|n| proc.preprocess_file(format!("{DIR}/{n}.png")).unwrap()).collect();
        let (shape, data, mask, shapes) = vitfuse_model::preprocess::patchify_batch(&items, patch, max).unwrap();
        let ev = &exp[&format!("{key}_pixel_values")];
        assert_eq!(shape, ev.shape, "{key}");
        assert_eq!(mask, exp[&format!("{key}_pixel_attention_mask")].as_i64().unwrap(), "{key}");
        let want: Vec<(usize, usize)> = exp[&format!("{key}_spatial_shapes")].as_i64().unwrap().chunks(2).map(|c| (c[0] as usize, c[1] as usize)).collect();
        assert_eq!(shapes, want, "{key}");
        let max_err = data.iter().zip(ev.as_f32().unwrap()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(max_err <= 1e-5, "{key}: {max_err}");
    }
    assert_eq!(vitfuse_model::preprocess::naflex_size(197, 331, 8, 16), (24, 40));
}
