"""Signed outputs of render, generate and mirror, read back with c2pa's own validation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.c2pa_reader import read
from tests.helpers.cli import invoke
from tests.helpers.tiny import make_run, tiny_checkpoint
from zizi.cli.options import UNSIGNED_HINT
from zizi.credentials import keys, manifest
from zizi.credentials.keys import CredentialsError
from zizi.io.checkpoint import save_checkpoint
from zizi.render.encode import work_dir
from zizi.render.scenes import RenderSettings, shift

AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny run whose config.yaml records its dataset (so the manifest's hash is known)."""
    root = tmp_path_factory.mktemp("signed")
    run_dir = make_run(root)
    (root / "data").mkdir()
    (root / "data" / "manifest.json").write_text('{"images": []}\n')
    (run_dir / "config.yaml").write_text(f"data: {root / 'data'}\n")
    return {
        "run": run_dir,
        "frames": sorted((run_dir / "frames").glob("*.safetensors")),
        "dataset": root / "data" / "manifest.json",
    }


@pytest.fixture(scope="module")
def signed_mp4(world, key_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mp4") / "zizi.mp4"
    r = invoke(
        "render",
        "shift",
        world["run"],
        "--out",
        out,
        "--frames",
        12,
        "--segment",
        5,
        "--device",
        "cpu",
        "--credentials",
        key_dir,
    )
    assert r.exit_code == 0, r.output
    assert UNSIGNED_HINT not in r.output
    return out


def test_render_signs_the_video_with_what_the_issue_asks(signed_mp4, world):
    state, active, store = read(signed_mp4)
    assert state == "Valid"  # signature and hashes hold; the test root is on no trust list
    assert len(store["manifests"]) == 1  # three segments, one manifest: the joined file's
    assert active["claim_generator_info"][0]["name"] == "zizi"
    assertions = {a["label"]: a["data"] for a in active["assertions"]}
    created = [a for a in assertions["c2pa.actions.v2"]["actions"] if a["action"] == "c2pa.created"]
    assert created and created[0]["digitalSourceType"] == AI
    uses = assertions["cawg.training-mining"]["entries"]
    assert uses["cawg.ai_generative_training"]["use"] == "notAllowed"
    assert {u["use"] for u in uses.values()} == {"notAllowed"}
    ingredients = {i["title"]: i["instance_id"] for i in active["ingredients"]}
    for f in world["frames"]:
        assert ingredients[f.name] == f"sha256:{sha256(f)}"
    assert ingredients["manifest.json"] == f"sha256:{sha256(world['dataset'])}"
    # the sidecar record stays, and the same record is signed inside the file
    sidecar = json.loads(Path(str(signed_mp4) + ".json").read_text())
    assert json.loads(assertions["zizi.provenance"]["json"]) == sidecar
    from zizi.credentials.verify import check

    assert check(signed_mp4).record == sidecar


def _frames(path: Path) -> list[np.ndarray]:
    import imageio

    r = imageio.get_reader(str(path))
    frames = [np.asarray(f) for f in r]
    r.close()
    return frames


def test_signing_keeps_the_video_playable(signed_mp4, world, key_dir, tmp_path):
    assert len(_frames(signed_mp4)) == 12
    mov = tmp_path / "zizi.mov"  # ProRes in QuickTime: signed the same way
    r = invoke(
        "render",
        "shift",
        world["run"],
        "--out",
        mov,
        "--frames",
        4,
        "--device",
        "cpu",
        "--credentials",
        key_dir,
    )
    assert r.exit_code == 0, r.output
    assert read(mov)[0] == "Valid" and len(_frames(mov)) == 4


def test_verify_says_ai_generated_signer_and_trust(signed_mp4, key_dir):
    r = invoke("credentials", "verify", signed_mp4)
    assert r.exit_code == 0, r.output
    assert "AI-generated: yes" in r.output and "Zizi Test Studio" in r.output
    assert "valid but untrusted" in r.output and "TAMPERED" not in r.output
    assert "frame-000000040000.safetensors sha256" in r.output
    assert "training and data mining: notAllowed" in r.output
    r = invoke("credentials", "verify", signed_mp4, "--trust", key_dir / keys.ROOT_CERT)
    assert r.exit_code == 0 and "trusted here only" in r.output, r.output


def test_one_flipped_byte_of_a_signed_mp4_is_reported_tampered(signed_mp4, tmp_path):
    data = bytearray(signed_mp4.read_bytes())
    mdat = data.find(b"mdat")
    assert mdat > 0
    data[mdat + (len(data) - mdat) // 2] ^= 0x01  # one bit of the picture
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    assert read(bad)[0] == "Invalid"
    r = invoke("credentials", "verify", bad)
    assert r.exit_code == 1
    assert "TAMPERED" in r.output and "INVALID" in r.output and "Traceback" not in r.output


def test_an_unsigned_file_has_no_credentials(tmp_path):
    p = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(p)
    r = invoke("credentials", "verify", p)
    assert r.exit_code == 1 and "no Content Credentials" in r.output
    r = invoke("credentials", "verify", tmp_path / "missing.png")
    assert r.exit_code == 1 and "not found" in r.output and "Traceback" not in r.output
    (tmp_path / "notes.txt").write_text("not a picture")
    r = invoke("credentials", "verify", tmp_path / "notes.txt")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1, r.output


def _counting(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = manifest.sign_file

    def counted(src, dst, mime, record, creds, title):
        calls.append(title)
        return real(src, dst, mime, record, creds, title)

    monkeypatch.setattr(manifest, "sign_file", counted)
    return calls


def _stop_after(n):
    def progress(done, total):
        if done >= n:
            raise KeyboardInterrupt

    return progress


def test_a_resumed_render_signs_the_joined_file_once(world, key_dir, tmp_path, monkeypatch):
    calls = _counting(monkeypatch)
    creds = keys.load(key_dir)
    s = RenderSettings(frames=12, segment_frames=4)
    out = tmp_path / "part.mp4"
    with pytest.raises(KeyboardInterrupt):
        shift(
            [world["run"]], out, s, torch.device("cpu"), progress=_stop_after(9), credentials=creds
        )
    assert calls == [] and not out.exists()  # finished segments are never signed
    shift([world["run"]], out, s, torch.device("cpu"), resume=True, credentials=creds)
    assert calls == ["part.mp4"]
    state, _, store = read(out)
    assert state == "Valid" and len(store["manifests"]) == 1


def test_a_failed_signature_leaves_nothing_under_the_final_name(
    world, key_dir, tmp_path, monkeypatch
):
    def broken(src, dst, mime, record, creds, title):
        Path(dst).write_bytes(b"half a signed file")
        raise CredentialsError(f"could not sign {title}: the disk is on fire")

    creds = keys.load(key_dir)
    monkeypatch.setattr(manifest, "sign_file", broken)
    s = RenderSettings(frames=6, segment_frames=3)
    out = tmp_path / "v.mp4"
    with pytest.raises(CredentialsError, match="on fire"):
        shift([world["run"]], out, s, torch.device("cpu"), credentials=creds)
    assert not out.exists() and work_dir(out).is_dir()  # segments kept for --resume
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    from zizi.files import write_png

    still = tmp_path / "still.png"
    with pytest.raises(CredentialsError):
        write_png(still, np.zeros((8, 8, 3), np.uint8), seal=manifest.sealer({}, creds))
    assert sorted(p.name for p in tmp_path.iterdir()) == [work_dir(out).name]
    monkeypatch.undo()
    shift([world["run"]], out, s, torch.device("cpu"), resume=True, credentials=creds)
    assert read(out)[0] == "Valid"


def test_png_sequence_frames_are_each_signed(world, key_dir, tmp_path):
    out = tmp_path / "frames"
    r = invoke(
        "render",
        "shift",
        world["run"],
        "--out",
        out,
        "--frames",
        3,
        "--device",
        "cpu",
        "--credentials",
        key_dir,
    )
    assert r.exit_code == 0, r.output
    pngs = sorted(out.glob("frame*.png"))
    assert len(pngs) == 3
    for p in pngs:
        state, active, _ = read(p)
        assert state == "Valid" and active["title"] == p.name
        assert "zizi" in Image.open(p).text  # the PNG text record is still there


def test_generate_signs_with_default_keys_and_says_once_when_it_cannot(world, tmp_path):
    ckpt = world["frames"][-1]
    r = invoke(
        "generate", ckpt, "--seeds", "0-1", "--grid", "--out", tmp_path / "plain", "--device", "cpu"
    )
    assert r.exit_code == 0, r.output
    assert r.output.count(UNSIGNED_HINT) == 1
    assert invoke("credentials", "verify", tmp_path / "plain" / "seed0000.png").exit_code == 1
    assert "zizi" in Image.open(tmp_path / "plain" / "seed0000.png").text  # the unsigned record
    assert invoke("credentials", "init", "--org", "Default Keys").exit_code == 0
    r = invoke(
        "generate",
        ckpt,
        "--seeds",
        "0-1",
        "--grid",
        "--out",
        tmp_path / "signed",
        "--device",
        "cpu",
    )
    assert r.exit_code == 0 and UNSIGNED_HINT not in r.output, r.output
    for name in ("seed0000.png", "seed0001.png", "grid.png"):
        v = invoke("credentials", "verify", tmp_path / "signed" / name)
        # the default keys' root is this machine's: trusted here, and only here
        assert v.exit_code == 0 and "Default Keys" in v.output and "trusted here only" in v.output
    a = np.asarray(Image.open(tmp_path / "plain" / "seed0001.png"))
    assert np.array_equal(a, np.asarray(Image.open(tmp_path / "signed" / "seed0001.png")))


def test_mirror_signs_the_still_and_the_video(key_dir, tmp_path):
    base, shifted = tmp_path / "base.safetensors", tmp_path / "shifted.safetensors"
    save_checkpoint(base, tiny_checkpoint(16, seed=0))
    save_checkpoint(shifted, tiny_checkpoint(16, seed=10))
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(
        photo
    )
    out = tmp_path / "out"
    r = invoke(
        "mirror",
        photo,
        "--ckpt",
        base,
        "--shifted",
        shifted,
        "--out",
        out,
        "--steps",
        2,
        "--align",
        "center",
        "--video",
        "--frames",
        4,
        "--device",
        "cpu",
        "--credentials",
        key_dir,
    )
    assert r.exit_code == 0, r.output
    for name in ("mirror.png", "mirror.mp4"):
        state, active, _ = read(out / name)
        assert state == "Valid", name
        assert {i["instance_id"] for i in active["ingredients"]} >= {
            f"sha256:{sha256(base)}",
            f"sha256:{sha256(shifted)}",
        }
    assert sorted(p.name for p in out.iterdir()) == ["mirror.mp4", "mirror.mp4.json", "mirror.png"]


def test_the_demo_still_is_signed_with_its_videos_record(signed_mp4, key_dir, tmp_path):
    from zizi.demo.pipeline import _video_frame

    still = _video_frame(signed_mp4, tmp_path / "still.png", keys.load(key_dir))
    state, active, _ = read(still)
    assert state == "Valid" and active["title"] == "still.png"
    from zizi.credentials.verify import check

    record = check(still).record
    assert record["kind"] == "image" and record["config"]["still_of"] == signed_mp4.name
    assert (
        record["checkpoints"]
        == json.loads(Path(str(signed_mp4) + ".json").read_text())["checkpoints"]
    )


@pytest.mark.slow
def test_demo_with_credentials_signs_its_video_samples_and_still(key_dir, tmp_path):
    out = tmp_path / "demo"
    r = invoke("demo", "--quick", "--out", out, "--device", "cpu", "--credentials", key_dir)
    assert r.exit_code == 0, r.output
    assert UNSIGNED_HINT not in r.output
    for f in ("weight-shift.mp4", "samples/4-video-frame.png", "samples/3-finetuned/grid.png"):
        assert read(out / f)[0] == "Valid", f


def test_a_render_with_sound_is_signed_after_the_sound_is_in(world, key_dir, tmp_path):
    """The sound is muxed into the joined temporary file before it is signed: the signed
    file carries the sound, and its signature is valid (muxing afterwards would break it)."""
    from tests.helpers.media import audio_seconds, click_track

    out = tmp_path / "sound.mp4"
    r = invoke(
        "render",
        "walk",
        world["frames"][0],
        "--audio",
        click_track(tmp_path / "c.wav"),
        "--fps",
        10,
        "--seconds",
        "1.5s",
        "--seeds",
        2,
        "--out",
        out,
        "--device",
        "cpu",
        "--credentials",
        key_dir,
    )
    assert r.exit_code == 0, r.output
    assert abs(audio_seconds(out) - 1.5) < 0.03
    state, active, _ = read(out)
    assert state in ("Valid", "Trusted"), state
    assert not list(tmp_path.glob(".*"))  # no temporary file left beside it
