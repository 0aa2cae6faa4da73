//! Models by Hub id from a local Hugging Face cache laid out as huggingface_hub lays it out
//! (`models--ORG--NAME/{refs,snapshots,blobs}`, snapshot files as relative symlinks into
//! `blobs/`), found through each of the cache's environment variables; never a download.

#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::Command;

use vitfuse::hub::{parse_id, resolve_in};
use vitfuse::{DualEncoder, Error, Options};

mod common;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vitfuse-hub-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Puts the tiny CLIP (weights, config, tokenizer) into `cache` as `org/name`, at `COMMIT` on
/// `main` and on the branch `v1`; blobs are named by a digest of their contents.
fn cache_model(cache: &Path, id: &str) -> PathBuf {
    let repo = cache.join(format!("models--{}", id.replace('/', "--")));
    let snap = repo.join("snapshots").join(COMMIT);
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    let files = [
        ("config.json", common::fixture("clip_tiny/config.json")),
        ("model.safetensors", common::fixture("clip_tiny/model.safetensors")),
        ("tokenizer.json", common::fixture("tiny_tokenizer/tokenizer.json")),
    ];
    for (name, src) in files {
        let bytes = std::fs::read(&src).unwrap();
        // a stand-in for the sha256 huggingface_hub uses: any content-derived name will do
        let digest = bytes.iter().fold(0xcbf29ce484222325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3));
        let blob = format!("{digest:016x}{:08x}", bytes.len());
        std::fs::write(repo.join("blobs").join(&blob), &bytes).unwrap();
        std::os::unix::fs::symlink(format!("../../blobs/{blob}"), snap.join(name)).unwrap();
    }
    std::fs::write(repo.join("refs/main"), COMMIT).unwrap();
    std::fs::write(repo.join("refs/v1"), format!("{COMMIT}\n")).unwrap();
    snap
}

#[test]
fn resolves_refs_revisions_and_says_what_is_missing() {
    let cache = temp("resolve");
    let snap = cache_model(&cache, "tiny-org/clip-tiny");
    let caches = [cache.join("elsewhere"), cache.clone()];
    assert_eq!(resolve_in("tiny-org/clip-tiny", None, &caches).unwrap(), snap);
    assert_eq!(resolve_in("tiny-org/clip-tiny", Some("v1"), &caches).unwrap(), snap);
    assert_eq!(resolve_in("tiny-org/clip-tiny", Some(COMMIT), &caches).unwrap(), snap);
    assert!(snap.join("model.safetensors").symlink_metadata().unwrap().file_type().is_symlink());

    let msg = |e: Error| {
        assert!(matches!(e, Error::NotInHubCache { .. }), "{e:?}");
        let m = e.to_string();
        assert!(m.contains("never downloads"), "{m}");
        m
    };
    let m = msg(resolve_in("tiny-org/absent", None, &caches).unwrap_err());
    assert!(m.contains("not in the local Hugging Face cache") && m.contains("models--tiny-org--absent"), "{m}");
    let m = msg(resolve_in("tiny-org/clip-tiny", Some("v9"), &caches).unwrap_err());
    assert!(m.contains("no revision `v9`") && m.contains(COMMIT), "{m}");
    // refs/main at a commit that is not downloaded
    let repo = cache.join("models--tiny-org--clip-tiny");
    std::fs::write(repo.join("refs/main"), "feedface").unwrap();
    let m = msg(resolve_in("tiny-org/clip-tiny", None, &caches).unwrap_err());
    assert!(m.contains("feedface") && m.contains("not downloaded"), "{m}");
    // no refs at all and one snapshot: that one
    std::fs::remove_dir_all(repo.join("refs")).unwrap();
    assert_eq!(resolve_in("tiny-org/clip-tiny", None, &caches).unwrap(), snap);
    // a partial download
    std::fs::remove_file(snap.join("config.json")).unwrap();
    let m = msg(resolve_in("tiny-org/clip-tiny", None, &caches).unwrap_err());
    assert!(m.contains("partial download"), "{m}");
    let m = msg(resolve_in("a/b", None, &[]).unwrap_err());
    assert!(m.contains("HF_HUB_CACHE"), "{m}");
    assert_eq!(parse_id("tiny-org/clip-tiny@v1"), Some(("tiny-org/clip-tiny", Some("v1"))));
    std::fs::remove_dir_all(&cache).ok();
}

#[test]
fn a_cached_model_runs_as_its_folder_does() {
    let cache = temp("open");
    let snap = cache_model(&cache, "tiny-org/clip-tiny");
    let opts = Options::new().device(vitfuse::Device::from_context(common::own_context()));
    let from_cache = DualEncoder::open_with(snap, &opts).unwrap().embed_texts(&["a photo of a cat"]).unwrap();
    let folder = temp("folder");
    for (f, src) in [("config.json", "clip_tiny/config.json"), ("model.safetensors", "clip_tiny/model.safetensors"), ("tokenizer.json", "tiny_tokenizer/tokenizer.json")] {
        std::fs::copy(common::fixture(src), folder.join(f)).unwrap();
    }
    let direct = DualEncoder::open_with(&folder, &opts).unwrap().embed_texts(&["a photo of a cat"]).unwrap();
    assert_eq!(from_cache.as_slice(), direct.as_slice());
    std::fs::remove_dir_all(&cache).ok();
    std::fs::remove_dir_all(&folder).ok();
}

fn vitfuse(env: &[(&str, &Path)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vitfuse"));
    for k in ["HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// The CLI finds the model through each variable huggingface_hub reads, in its order.
#[test]
fn the_command_line_takes_hub_ids() {
    let root = temp("cli");
    let (hub, home, xdg, user) = (root.join("hub-cache"), root.join("hf-home"), root.join("xdg"), root.join("user"));
    cache_model(&hub, "tiny-org/clip-tiny");
    cache_model(&home.join("hub"), "tiny-org/clip-tiny");
    cache_model(&xdg.join("huggingface/hub"), "tiny-org/clip-tiny");
    cache_model(&user.join(".cache/huggingface/hub"), "tiny-org/clip-tiny");
    let envs: [&[(&str, &Path)]; 5] = [
        &[("HF_HUB_CACHE", &hub)],
        &[("HUGGINGFACE_HUB_CACHE", &hub)],
        &[("HF_HOME", &home)],
        &[("XDG_CACHE_HOME", &xdg)],
        &[("HOME", &user)],
    ];
    for env in envs {
        let out = vitfuse(env).args(["embed", "--model", "tiny-org/clip-tiny@v1", "--text", "a cat"]).output().unwrap();
        assert!(out.status.success(), "{env:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!out.stdout.is_empty());
    }
    // HF_HUB_CACHE wins over HF_HOME: an empty hub cache does not fall back
    let empty = root.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = vitfuse(&[("HF_HUB_CACHE", &empty), ("HF_HOME", &home)]).args(["embed", "--model", "tiny-org/clip-tiny", "--text", "a"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not in the local Hugging Face cache") && err.contains("never downloads") && err.lines().count() == 1, "{err}");
    std::fs::remove_dir_all(&root).ok();
}
