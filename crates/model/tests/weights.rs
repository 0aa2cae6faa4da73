//! Safetensors loading, conversion, host tensor round trips and error cases.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use vitfuse_model::{
    read_host_tensors, write_host_tensors, HostData, HostTensor, ModelError, Weights,
};

fn dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("weights_tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Hand-assembles a safetensors file from (name, dtype, shape, bytes).
fn raw_file(tensors: &[(&str, &str, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        let start = data.len();
        data.extend_from_slice(bytes);
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let mut h = serde_json::Value::Object(header).to_string().into_bytes();
    let pad = (8 - h.len() % 8) % 8;
    h.extend(std::iter::repeat_n(b' ', pad));
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    out
}

fn sample() -> Vec<u8> {
    let f32s: Vec<u8> = [1.0f32, -2.5, 3.25, 0.0, 5.0, 6.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let f16s: Vec<u8> = [0.5f32, -1.0, 2.0]
        .iter()
        .flat_map(|&x| half::f16::from_f32(x).to_bits().to_le_bytes())
        .collect();
    let bf16s: Vec<u8> = [1.5f32, -3.0]
        .iter()
        .flat_map(|&x| half::bf16::from_f32(x).to_bits().to_le_bytes())
        .collect();
    let i64s: Vec<u8> = [7i64, -8].iter().flat_map(|x| x.to_le_bytes()).collect();
    raw_file(&[
        ("w.f32", "F32", vec![2, 3], f32s),
        ("w.f16", "F16", vec![3], f16s),
        ("w.bf16", "BF16", vec![1, 2], bf16s),
        ("ids", "I64", vec![2], i64s),
    ])
}

#[test]
fn load_and_convert() {
    let d = dir("load");
    std::fs::write(d.join("model.safetensors"), sample()).unwrap();
    for w in [
        Weights::open(&d).unwrap(),
        Weights::open(d.join("model.safetensors")).unwrap(),
    ] {
        assert_eq!(w.names(), vec!["ids", "w.bf16", "w.f16", "w.f32"]);
        assert!(w.contains("w.f32") && !w.contains("nope"));
        assert_eq!(w.shape("w.f32"), Some(vec![2, 3]));
        assert_eq!(w.shape("nope"), None);
        assert_eq!(
            w.get_f32("w.f32", &[2, 3]).unwrap(),
            vec![1.0, -2.5, 3.25, 0.0, 5.0, 6.0]
        );
        assert_eq!(w.get_f32("w.f16", &[3]).unwrap(), vec![0.5, -1.0, 2.0]);
        assert_eq!(w.get_f32("w.bf16", &[1, 2]).unwrap(), vec![1.5, -3.0]);
        let err = w.get_f32("ids", &[2]).unwrap_err();
        assert!(
            err.to_string().contains("ids") && err.to_string().contains("I64"),
            "{err}"
        );
    }
}

#[test]
fn missing_tensor_and_shape_mismatch() {
    let d = dir("errors");
    std::fs::write(d.join("model.safetensors"), sample()).unwrap();
    let w = Weights::open(&d).unwrap();
    let err = w.get_f32("encoder.layer.0.weight", &[4]).unwrap_err();
    assert!(matches!(err, ModelError::MissingTensor { .. }));
    assert!(err.to_string().contains("encoder.layer.0.weight"), "{err}");
    let err = w.get_f32("w.f32", &[3, 2]).unwrap_err();
    assert!(matches!(err, ModelError::ShapeMismatch { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("w.f32") && msg.contains("[2, 3]") && msg.contains("[3, 2]"),
        "{msg}"
    );
}

#[test]
fn sharded_checkpoint() {
    let d = dir("sharded");
    let a = raw_file(&[(
        "a",
        "F32",
        vec![2],
        [1.0f32, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect(),
    )]);
    let b = raw_file(&[("b", "F32", vec![1], 3.0f32.to_le_bytes().to_vec())]);
    std::fs::write(d.join("model-00001-of-00002.safetensors"), a).unwrap();
    std::fs::write(d.join("model-00002-of-00002.safetensors"), b).unwrap();
    std::fs::write(
        d.join("model.safetensors.index.json"),
        r#"{"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}"#,
    )
    .unwrap();
    let w = Weights::open(&d).unwrap();
    assert_eq!(w.names(), vec!["a", "b"]);
    assert_eq!(w.get_f32("a", &[2]).unwrap(), vec![1.0, 2.0]);
    assert_eq!(w.get_f32("b", &[1]).unwrap(), vec![3.0]);
}

#[test]
fn truncated_and_garbage_files() {
    let d = dir("truncated");
    let full = sample();
    for (i, cut) in [0usize, 5, 8, 20, full.len() / 2, full.len() - 1]
        .into_iter()
        .enumerate()
    {
        let p = d.join(format!("cut{i}.safetensors"));
        std::fs::write(&p, &full[..cut]).unwrap();
        let err = Weights::open(&p).unwrap_err();
        assert!(matches!(err, ModelError::Safetensors { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("invalid safetensors file") && msg.contains(&format!("cut{i}")),
            "{msg}"
        );
        let err = read_host_tensors(&p).unwrap_err();
        assert!(matches!(err, ModelError::Safetensors { .. }), "{err}");
    }
    let p = d.join("garbage.safetensors");
    let mut g = 40u64.to_le_bytes().to_vec();
    g.extend_from_slice(&[0xff; 40]);
    std::fs::write(&p, &g).unwrap();
    assert!(Weights::open(&p)
        .unwrap_err()
        .to_string()
        .contains("garbage.safetensors"));
    let err = Weights::open(d.join("absent.safetensors")).unwrap_err();
    assert!(matches!(err, ModelError::Io { .. }) && err.to_string().contains("absent.safetensors"));
    let err = Weights::open(&d).unwrap_err();
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

#[test]
fn host_tensor_round_trip() {
    let d = dir("host");
    let mut m = BTreeMap::new();
    m.insert(
        "pixel_values".to_string(),
        HostTensor::f32(vec![1, 2, 2], vec![0.5, -1.0, 2.0, 3.0]).unwrap(),
    );
    m.insert(
        "input_ids".to_string(),
        HostTensor::i64(vec![2, 2], vec![1, 2, 3, i64::MAX]).unwrap(),
    );
    let p = d.join("out.safetensors");
    write_host_tensors(&p, &m).unwrap();
    let back = read_host_tensors(&p).unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(back["pixel_values"], m["pixel_values"]);
    assert_eq!(back["input_ids"], m["input_ids"]);
    // overwriting works and leaves no temporary files
    let h: HashMap<String, HostTensor> = back.into_iter().collect();
    write_host_tensors(&p, &h).unwrap();
    let files: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    // I32 inputs widen to I64
    let i32s: Vec<u8> = [5i32, -6].iter().flat_map(|x| x.to_le_bytes()).collect();
    let p2 = d.join("i32.safetensors");
    std::fs::write(&p2, raw_file(&[("mask", "I32", vec![2], i32s)])).unwrap();
    assert_eq!(
        read_host_tensors(&p2).unwrap()["mask"].data,
        HostData::I64(vec![5, -6])
    );
    // inconsistent tensors are rejected
    assert!(HostTensor::f32(vec![3], vec![1.0]).is_err());
    let bad = HostTensor {
        shape: vec![5],
        data: HostData::F32(vec![1.0]),
    };
    let mut m2 = BTreeMap::new();
    m2.insert("x".to_string(), bad);
    let err = write_host_tensors(d.join("bad.safetensors"), &m2).unwrap_err();
    assert!(err.to_string().contains("[5]"), "{err}");
}
