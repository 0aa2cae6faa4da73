#!/usr/bin/env bash
# Regenerates tests/fixtures/audio_formats/: one short tone (0.3 s) in each container and codec
# that vitfuse decodes, checked by crates/model/tests/audio_formats.rs.
#
# The tone, defined in that test too: left 0.5·sin(2π·440·t), right 0.25·sin(2π·660·t) (stereo
# files), or their mean (mono files), for t = n / rate, n = 0 … 0.3·rate − 1.
#
# Needs ffmpeg with libmp3lame and libvorbis (Debian: apt-get install -y ffmpeg).
# Usage: tools/gen_audio_formats.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=tests/fixtures/audio_formats
mkdir -p "$out"

# tone RATE CHANNELS: the lavfi source of the tone.
tone() {
    local expr='0.5*sin(2*PI*440*t)|0.25*sin(2*PI*660*t)'
    [[ $2 == 2 ]] || expr='(0.5*sin(2*PI*440*t)+0.25*sin(2*PI*660*t))/2'
    echo "aevalsrc=${expr}:s=$1:d=0.3"
}
ff() { ffmpeg -hide_banner -loglevel error -y -bitexact "$@"; }

ff -f lavfi -i "$(tone 32000 2)" -c:a pcm_s16le "$out/tone_s16_stereo_32000.wav"
ff -f lavfi -i "$(tone 22050 1)" -c:a pcm_f32le "$out/tone_f32_mono_22050.wav"
ff -f lavfi -i "$(tone 48000 1)" -c:a pcm_s24le "$out/tone_s24_mono_48000.wav"
ff -f lavfi -i "$(tone 44100 2)" -sample_fmt s16 -c:a flac "$out/tone_stereo_44100.flac"
ff -f lavfi -i "$(tone 44100 2)" -c:a libmp3lame -b:a 96k "$out/tone_stereo_44100.mp3"
ff -f lavfi -i "$(tone 48000 1)" -c:a libvorbis -q:a 3 "$out/tone_mono_48000.ogg"
ls -l "$out"
