"""Reliability (issue #11): every class of failure an adversarial run found, one mechanism each, and a
table of cases per class.

1. Wrong labels accepted silently: lossy mask files (decided by the real format), binary masks in
   any bit depth, label sets with huge gaps, training masks with fewer than two classes.
2. User errors end as ONE line and exit 2 with nothing written: numeric options, huge images,
   models that cannot take a size, misleading messages, a locked --out.
3. ``--resume`` checks the whole checkpoint first: every damaged file is named.
4. Ctrl-C (a real SIGINT) and a full disk (ENOSPC) at every moment and write site leave --out
   resumable or as it was, with no staging directory, temporary file or lock behind.
5. A diverged run exits 1, writes no model, and ``--resume`` continues from the last finite epoch.
6. Two runs into one --out: the second is refused, naming the first one's pid.

Models are tiny (a depth-1 U-Net with 2 filters, 16x16 images); subprocesses only where a real
process is needed (a lock holder, an external SIGINT, a read-only HOME).
"""

import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from errortable import error_table_failures, listing
from imagefixtures import make_folder, rgb, save, write_png_raw
from PIL import Image

import gruseg.cli
import gruseg.training
from gruseg._lock import LOCK_FILE, DirectoryLock, LockHeld, holder
from gruseg.cli import main
from gruseg.data import load_folder, read_mask
from gruseg.errors import GrusegError

UNET = ["--model", "unet", "--model-arg", "base_filters=2", "--model-arg", "depth=1", "--batch-size", "8"]
TRAIN = ["train", "--size", "16", "--samples", "10", "--quiet", *UNET]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0", "MPLBACKEND": "Agg"}


# ------------------------------------------------------------------------------------------ helpers


def _blob_masks(n, size=16, seed=0, labels=(0, 1)):
    """Blob-shaped label masks (a bilinear-upsampled random field, thresholded), like real objects."""
    rng = np.random.default_rng(seed)
    masks = []
    for _ in range(n):
        field = rng.random((4, 4))
        smooth = np.asarray(Image.fromarray((field * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR))
        masks.append(np.where(smooth > 127, labels[1], labels[0]).astype(np.uint8))
    return masks


def _folder(root, masks, name="m{i}.png", image_name="m{i}.png", **save_kwargs):
    """images/ + masks/: one random RGB image per mask array; masks saved with PIL (``save_kwargs``)."""
    root = make_folder(root)
    for i, mask in enumerate(masks):
        save(root / "images" / image_name.format(i=i), rgb(*mask.shape[:2], seed=i))
        Image.fromarray(np.asarray(mask)).save(root / "masks" / name.format(i=i), **save_kwargs)
    return root


def _one_line_error(capsys):
    """The single stderr line of a failed command (asserts there is exactly one)."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gruseg: error: "), err
    return lines[0]


def _leftovers(out: Path):
    """Files a run must never leave behind: staging dirs, temp files, Keras assets/, its lock."""
    found = [p.name for p in out.parent.glob(f".{out.name}.staging-*")]
    if out.exists():
        found += [str(p.relative_to(out)) for p in out.rglob("*")
                  if p.name.startswith(".tmp-") or p.name == "assets" or p.name == LOCK_FILE]
    return found


@pytest.fixture(scope="module")
def model_run(tmp_path_factory):
    """A finished tiny U-Net run (2 classes, 16x16), for evaluate/predict and as a checkpoint to damage."""
    root = tmp_path_factory.mktemp("rel")
    data = _folder(root / "data", _blob_masks(10))
    out = root / "run"
    assert main(["train", "--data", str(data), "--size", "16", "--epochs", "2", "--patience", "5", "--quiet",
                 *UNET, "--out", str(out)]) == 0
    return {"data": data, "out": out, "argv": ["train", "--data", str(data), "--size", "16", "--epochs", "2",
                                               "--patience", "5", "--quiet", *UNET]}


@pytest.fixture(scope="module")
def any_size_model(tmp_path_factory):
    """A size-agnostic depth-2 U-Net (sides must be multiples of 4) with a metrics.json saying 16x16."""
    from gruseg.models import build_unet

    root = tmp_path_factory.mktemp("anysize")
    build_unet((None, None, 3), 2, depth=2, base_filters=2, seed=0).save(root / "model.keras")
    (root / "metrics.json").write_text(json.dumps({"config": {"size": [16, 16]}}))
    return root / "model.keras"


# =================================================================== 1. wrong labels, accepted silently

# (case, file name, PIL save arguments, refused with these words or None when accepted)
LOSSY_CASES = [
    ("JPEG q75 renamed .png", "m{i}.png", {"format": "JPEG", "quality": 75}, "saved as JPEG (named .png)"),
    ("JPEG q90 as .jpg", "m{i}.jpg", {"quality": 90}, "saved as JPEG, a lossy format"),
    ("JPEG q100 as .JPEG", "m{i}.JPEG", {"quality": 100}, "saved as JPEG, a lossy format"),
    ("lossy WebP renamed .png", "m{i}.png", {"format": "WEBP", "quality": 90}, "saved as lossy WebP"),
    ("lossy WebP q100 renamed .png", "m{i}.png", {"format": "WEBP", "quality": 100}, "saved as lossy WebP"),
    ("lossless WebP renamed .png", "m{i}.png", {"format": "WEBP", "lossless": True}, None),
    ("PNG", "m{i}.png", {}, None),
    ("PNG renamed .jpg", "m{i}.jpg", {"format": "PNG"}, None),
]


@pytest.mark.parametrize("case, name, kwargs, refusal", LOSSY_CASES, ids=[c[0] for c in LOSSY_CASES])
def test_lossy_masks_are_refused_by_their_real_format(tmp_path, case, name, kwargs, refusal):
    masks = [m.astype(np.uint8) for m in _blob_masks(2, size=32)]
    root = _folder(tmp_path / "d", masks, name=name, **kwargs)
    if refusal is None:
        data = load_folder(root, size=None)
        np.testing.assert_array_equal(data.masks, np.stack(masks))  # lossless: every label intact
        return
    with pytest.raises(GrusegError) as info:
        load_folder(root, size=None)
    message = str(info.value)
    assert refusal in message and "Save the masks as PNG" in message and "allow_lossy_masks=True" in message
    assert "m0." in message                                          # names the file
    with pytest.raises(GrusegError, match="lossy"):
        read_mask(root / "masks" / name.format(i=0))


def test_lossy_masks_behind_the_flag_are_accepted_with_one_warning_saying_the_cost(tmp_path):
    root = _folder(tmp_path / "d", [m.astype(np.uint8) for m in _blob_masks(3, size=32)], name="m{i}.jpg",
                   quality=90)
    with pytest.warns(UserWarning) as caught:
        data = load_folder(root, size=None, allow_lossy_masks=True)
    messages = [str(w.message) for w in caught if "lossy" in str(w.message)]
    assert len(messages) == 1 and messages[0].startswith("3 mask file(s) in a lossy format accepted")
    assert "% of the pixels" in messages[0] and "wrong labels near edges" in messages[0]
    assert len(data) == 3
    with pytest.warns(UserWarning, match="lossy"):
        read_mask(root / "masks" / "m0.jpg", allow_lossy_masks=True)
    with pytest.raises(ValueError, match="allow_lossy_masks must be True or False"):
        load_folder(root, allow_lossy_masks="yes")


def test_cli_allow_lossy_masks_trains_and_says_so_in_one_warning_line(tmp_path, capsys):
    from gruseg.cli import main

    masks = [m.astype(np.uint8) for m in _blob_masks(6, size=16)]
    root = _folder(tmp_path / "d", masks, name="m{i}.jpg", quality=90)
    argv = ["train", "--data", str(root), "--size", "16", "--epochs", "1", "--quiet", "--model", "unet",
            "--model-arg", "base_filters=2", "--model-arg", "depth=1", "--batch-size", "4"]
    assert main([*argv, "--out", str(tmp_path / "refused")]) == 2
    assert "--allow-lossy-masks" in capsys.readouterr().err
    assert main([*argv, "--allow-lossy-masks", "--out", str(tmp_path / "run")]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    warned = [line for line in lines if "lossy" in line]
    assert len(warned) == 1 and warned[0].startswith("gruseg: warning: 6 mask file(s) in a lossy format accepted")
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_jpeg_images_with_png_masks_are_fine(tmp_path):
    root = make_folder(tmp_path / "d")
    save(root / "images" / "a.jpg", rgb(16, 16), quality=60)            # photographs may be lossy
    save(root / "masks" / "a.png", _blob_masks(1)[0].astype(np.uint8))
    assert load_folder(root, size=None).num_classes == 2


def test_jpeg_really_changes_labels():
    """The measurement behind folder.LOSSY_COST: blob-shaped 64x64 0/1 masks through JPEG."""
    from gruseg.data.folder import LOSSY_COST

    wrong, labels = {}, set()
    for quality in (90, 75):
        rates = []
        for mask in _blob_masks(50, size=64, seed=0):
            mask = mask.astype(np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(mask).save(buffer, "JPEG", quality=quality)
            back = np.asarray(Image.open(buffer))
            rates.append((back != mask).mean())
            labels |= set(np.unique(back).tolist())
        wrong[quality] = float(np.mean(rates))
    assert 0.01 < wrong[90] < 0.04 and 0.04 < wrong[75] < 0.09, wrong
    assert 2 in labels                                           # a label no class has
    assert "2 % of the pixels at JPEG quality 90, 6 % at quality 75" in LOSSY_COST
    assert f"{wrong[90]:.0%}" == "2%" and f"{wrong[75]:.0%}" == "6%"


def test_the_pixel_limit_is_pillows_and_raising_it_lets_the_image_load(tmp_path, monkeypatch):
    root = _folder(tmp_path / "d", [m for m in _blob_masks(2)])
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)            # 16x16 = 256 pixels: too many now
    with pytest.raises(GrusegError, match=r"m0.png: the image has 256 pixels, above Pillow's limit of 100 pixels "
                                          r".*PIL.Image.MAX_IMAGE_PIXELS = 256"):
        load_folder(root, size=None)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200)            # between the limit and twice it: Pillow warns
    with pytest.raises(GrusegError, match="above Pillow's limit of 200 pixels"):
        load_folder(root, size=None)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 256)            # what the message says to do
    assert len(load_folder(root, size=None)) == 2


def _u16(mask):
    return np.asarray(mask, dtype=np.uint16)


# (case, masks, load_folder kwargs, expected num_classes, expected label values) -- accepted
LABEL_SETS_ACCEPTED = [
    ("8-bit 0/255 -> 0/1", [m * 255 for m in _blob_masks(2)], {}, 2, {0, 1}),
    ("16-bit 0/65535 -> 0/1", [_u16(m) * 65535 for m in _blob_masks(2)], {}, 2, {0, 1}),
    ("16-bit 0/255 -> 0/1", [_u16(m) * 255 for m in _blob_masks(2)], {}, 2, {0, 1}),
    ("16-bit all 65535 + all 0", [_u16(np.full((16, 16), 65535)), _u16(np.zeros((16, 16)))], {}, 2, {0, 1}),
    ("1-bit mask", [m.astype(bool) for m in _blob_masks(2)], {}, 2, {0, 1}),
    ("16-bit labels 0..2", [_u16(m * 2) for m in _blob_masks(1)] + [_u16(np.ones((16, 16)))], {}, 3, {0, 1, 2}),
    ("labels 0 and 3 (a 4-class subset)", [(m * 3).astype(np.uint8) for m in _blob_masks(2)], {}, 4, {0, 3}),
    ("labels 0 and 12", [(m * 12).astype(np.uint8) for m in _blob_masks(2)], {}, 13, {0, 12}),
    ("labels 0..20 all present", [np.arange(256).reshape(16, 16).astype(np.uint8) % 21], {}, 21, set(range(21))),
    ("0/255 with num_classes=256: 255 is a class", [m * 255 for m in _blob_masks(2)], {"num_classes": 256},
     256, {0, 255}),
    ("0/200 vouched by num_classes=201", [m * 200 for m in _blob_masks(2)], {"num_classes": 201}, 201, {0, 200}),
    ("0/1 with void 255", [np.where(np.eye(16, dtype=bool), 255, m) for m in _blob_masks(2)],
     {"ignore_label": 255}, 2, {0, 1, 255}),
]


@pytest.mark.parametrize("case, masks, kwargs, classes, values", LABEL_SETS_ACCEPTED,
                         ids=[c[0] for c in LABEL_SETS_ACCEPTED])
def test_label_sets_that_are_mapped_or_accepted(tmp_path, case, masks, kwargs, classes, values):
    root = _folder(tmp_path / "d", [m if m.dtype in (np.uint16, bool) else m.astype(np.uint8) for m in masks])
    data = load_folder(root, size=None, **kwargs)
    assert data.num_classes == classes
    assert set(np.unique(data.masks).tolist()) == values


# (case, masks, words the error must hold) -- refused as an encoding mistake
LABEL_SETS_REFUSED = [
    ("0/200", [(m * 200).astype(np.uint8) for m in _blob_masks(2)],
     ["{0, 200}", "201-class model in which 199 classes never occur", "200 -> 1", "--num-classes 201"]),
    ("16-bit 0/200", [_u16(m) * 200 for m in _blob_masks(2)], ["201-class model"]),
    ("16-bit 0/1000", [_u16(m) * 1000 for m in _blob_masks(2)], ["1001-class model", "1000 -> 1"]),
    ("16-bit 0/32768", [_u16(m) * 32768 for m in _blob_masks(2)], ["32769-class model"]),
    ("0, 50, 100, 150", [(m * 50 * (i + 1)).astype(np.uint8) for i, m in enumerate(_blob_masks(3))],
     ["{0, 50, 100, 150}", "50 -> 1", "150 -> 3", "0..3"]),
    ("0/128 spread over files", [np.zeros((16, 16), np.uint8), (_blob_masks(1)[0] * 128).astype(np.uint8)],
     ["the 2 mask(s) hold only the labels {0, 128}"]),
    ("0/20", [(m * 20).astype(np.uint8) for m in _blob_masks(2)], ["21-class model"]),
]


@pytest.mark.parametrize("case, masks, words", LABEL_SETS_REFUSED, ids=[c[0] for c in LABEL_SETS_REFUSED])
def test_label_sets_that_look_like_an_encoding_mistake_are_refused(tmp_path, case, masks, words):
    root = _folder(tmp_path / "d", masks)
    with pytest.raises(GrusegError) as info:
        load_folder(root, size=None)
    message = str(info.value)
    assert "looks like an encoding mistake" in message and str(root / "masks") in message
    for word in words:
        assert word in message, (word, message)


def test_a_16bit_binary_mask_folder_trains_a_two_class_model(tmp_path):
    data = _folder(tmp_path / "d", [_u16(m) * 65535 for m in _blob_masks(8)])
    out = tmp_path / "out"
    assert main(["train", "--data", str(data), "--size", "16", "--epochs", "1", "--quiet", *UNET,
                 "--out", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["config"]["num_classes"] == 2


# ============================================ 2. user errors: one line, exit 2, nothing written


@pytest.fixture
def lock_holder(tmp_path):
    """A live process holding the lock of tmp_path/locked (which holds a finished-looking run)."""
    locked = tmp_path / "locked"
    (locked / "checkpoint").mkdir(parents=True)
    code = ("import sys, time; from gruseg._lock import DirectoryLock; "
            f"lock = DirectoryLock({str(locked)!r}, command='gruseg train').acquire(); "
            "print('ready', flush=True); time.sleep(300)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield locked, proc.pid
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


_INT = "must be an integer in "
_SIZE = "must be a side in pixels (128) or HEIGHTxWIDTH (120x160), each side at most 4096, got "
# (command, option, value, what the line says after "argument OPTION: ")
NUMBERS = [
    ("train", "--seed", "-1", _INT + "[0, 4294967295], got -1"),
    ("train", "--seed", "4294967296", _INT + "[0, 4294967295], got 4294967296"),
    ("train", "--seed", "1.5", _INT + "[0, 4294967295], got '1.5'"),
    ("train", "--size", "100000", _SIZE + "'100000'"),
    ("train", "--size", "16x0", _SIZE + "'16x0'"),
    ("train", "--size", "16x", _SIZE + "'16x'"),
    ("train", "--size", "-16", _SIZE + "'-16'"),
    ("train", "--batch-size", str(2**63), _INT + f"[1, 4096], got {2**63}"),
    ("train", "--batch-size", "4097", _INT + "[1, 4096], got 4097"),
    ("train", "--batch-size", "0", _INT + "[1, 4096], got 0"),
    ("train", "--samples", "0", _INT + "[1, 1000000], got 0"),
    ("train", "--samples", "1000001", _INT + "[1, 1000000], got 1000001"),
    ("train", "--samples", "1e3", _INT + "[1, 1000000], got '1e3'"),
    ("train", "--learning-rate", "0", "must be a number in (0, 10.0], got 0.0"),
    ("train", "--learning-rate", "nan", "must be a number in (0, 10.0], got nan"),
    ("train", "--learning-rate", "inf", "must be a number in (0, 10.0], got inf"),
    ("train", "--learning-rate", "1e38", "must be a number in (0, 10.0], got 1e+38"),
    ("train", "--learning-rate", "fast", "must be a number in (0, 10.0], got 'fast'"),
    ("train", "--val-fraction", "1", "must be a number in [0, 1), got 1.0"),
    ("train", "--val-fraction", "-0.1", "must be a number in [0, 1), got -0.1"),
    ("train", "--val-fraction", "nan", "must be a number in [0, 1), got nan"),
    ("train", "--patience", "0", _INT + "[1, 100000], got 0"),
    ("train", "--patience", str(10**20), _INT + f"[1, 100000], got {10**20}"),
    ("train", "--num-classes", "1", _INT + "[2, 1024], got 1"),
    ("train", "--num-classes", "65536", _INT + "[2, 1024], got 65536"),
    ("train", "--ignore-label", "-1", _INT + "[0, 65535], got -1"),
    ("train", "--ignore-label", "65536", _INT + "[0, 65535], got 65536"),
    ("train", "--dice-weight", "-1", "must be a number in [0, 100], got -1.0"),
    ("train", "--dice-weight", "101", "must be a number in [0, 100], got 101.0"),
    ("train", "--dice-weight", "nan", "must be a number in [0, 100], got nan"),
    ("train", "--epochs", "100001", _INT + "[1, 100000], got 100001"),
    ("evaluate", "--batch-size", "0", _INT + "[1, 4096], got 0"),
    ("evaluate", "--samples", "0", _INT + "[1, 1000000], got 0"),
    ("evaluate", "--seed", "-1", _INT + "[0, 4294967295], got -1"),
    ("evaluate", "--ignore-label", "65536", _INT + "[0, 65535], got 65536"),
    ("evaluate", "--size", "5000", _SIZE + "'5000'"),
]


def _user_error_cases(tmp, model_run, any_size_model, lock_holder):
    """(argv, words the one line must hold, words it must not hold) for every user-fixable error."""
    out = str(tmp / "out")
    model = str(model_run["out"] / "model.keras")
    anysize = str(any_size_model)
    base = ["train", "--size", "16", "--epochs", "1", "--quiet", *UNET, "--out", out]
    masks = [m.astype(np.uint8) for m in _blob_masks(4)]

    jpeg = _folder(tmp / "jpeg", masks, name="m{i}.png", format="JPEG", quality=90)
    webp = _folder(tmp / "webp", masks, format="WEBP", quality=80)
    gaps = _folder(tmp / "gaps", [m * 200 for m in masks])
    zeros = _folder(tmp / "zeros", [np.zeros((16, 16), np.uint8)] * 4)
    ones = _folder(tmp / "ones", [np.full((16, 16), 255, np.uint8)] * 4)
    beyond = _folder(tmp / "beyond", [m * 5 for m in masks])
    several = masks[0].copy()
    several[0, :2] = (5, 7)
    beyond3 = _folder(tmp / "beyond3", [several, *masks[1:]])

    bomb = _folder(tmp / "bomb", masks)
    write_png_raw(bomb / "images" / "m0.png", 14000, 14000, 8, 0)        # a header that claims 196 Mpx
    warn = _folder(tmp / "warn", masks)
    write_png_raw(warn / "images" / "m1.png", 10000, 10000, 8, 0)        # 100 Mpx: Pillow only warns
    bomb_mask = _folder(tmp / "bombmask", masks)
    write_png_raw(bomb_mask / "masks" / "m2.png", 14000, 14000, 8, 0)
    big_photo = tmp / "big.png"
    write_png_raw(big_photo, 14000, 14000, 8, 2)

    broken_image = _folder(tmp / "brokenimg", masks)
    (broken_image / "images" / "m0.png").unlink()
    (broken_image / "images" / "m0.png").symlink_to(tmp / "gone.png")
    broken_mask = _folder(tmp / "brokenmask", masks)
    (broken_mask / "masks" / "m1.png").unlink()
    (broken_mask / "masks" / "m1.png").symlink_to(tmp / "gone.png")
    tif = _folder(tmp / "tif", masks)
    (tif / "masks" / "m0.png").rename(tif / "masks" / "m0.tif")
    webp_ext = _folder(tmp / "webpext", masks)
    Image.open(webp_ext / "masks" / "m3.png").save(webp_ext / "masks" / "m3.webp", lossless=True)
    (webp_ext / "masks" / "m3.png").unlink()
    bmp_image = _folder(tmp / "bmp", masks)
    Image.open(bmp_image / "images" / "m1.png").save(bmp_image / "images" / "m1.bmp")
    (bmp_image / "images" / "m1.png").unlink()
    device = _folder(tmp / "device", masks)
    (device / "images" / "m0.png").unlink()
    (device / "images" / "m0.png").symlink_to("/dev/zero")
    broken_out = tmp / "brokenout"
    broken_out.symlink_to(tmp / "nowhere")
    photos = tmp / "photos"
    photos.mkdir()
    img = tmp / "img.png"
    save(img, rgb(16, 16))

    locked, pid = lock_holder
    huge = "need about"
    return [
        # --- numbers argparse accepts that would crash later: bounded where parsed, the range in the message
        *[(["train", option, value, "--out", out] if command == "train" else ["evaluate", "--model", model, option,
                                                                            value],
           f"argument {option}: {expected}") for command, option, value, expected in NUMBERS],
        (["predict", "--model", model, str(img), "--out", out, "--batch-size", "5000"], "argument --batch-size"),
        (["predict", "--model", model, str(img), "--out", out, "--size", "0"], "argument --size"),
        # ... and their products: more data than memory, refused before allocating it
        (["train", "--samples", "1000000", "--size", "4096", "--out", out],
         (huge, "lower --samples or --size", "--samples 1000000 --size 4096")),
        (["evaluate", "--model", anysize, "--samples", "100000", "--size", "4096"], huge),
        # --- wrong labels
        ([*base, "--data", str(jpeg)], ("m0.png: a mask saved as JPEG (named .png), a lossy format", "PNG")),
        ([*base, "--data", str(webp)], "a mask saved as lossy WebP"),
        ([*base, "--data", str(gaps)], ("looks like an encoding mistake", "--num-classes 201", "200 -> 1")),
        ([*base, "--data", str(zeros)], ("training masks hold only class 0 (class_0), so there is nothing to learn",
                                         "not all 0")),
        ([*base, "--data", str(ones)], "training masks hold only class 1 (class_1)"),
        ([*base, "--data", str(zeros), "--ignore-label", "0"], "hold only void pixels (label 0)"),
        # --- huge images: Pillow's decompression-bomb guard, as one line
        ([*base, "--data", str(bomb)], ("m0.png: the image has 196,000,000 pixels, above Pillow's limit of 89,478,485 "
                                        "pixels", "downscale it first", "PIL.Image.MAX_IMAGE_PIXELS = 196000000")),
        ([*base, "--data", str(warn)], "m1.png: the image has 100,000,000 pixels, above Pillow's limit"),
        ([*base, "--data", str(bomb_mask)], "m2.png: the image has 196,000,000 pixels"),
        (["predict", "--model", model, str(big_photo), "--out", out], "big.png: the image has 196,000,000 pixels"),
        # --- a size the model cannot take, checked before running it
        (["evaluate", "--model", anysize, "--size", "30"], ("--size 30x30: this model downsamples 4x",
                                                            "multiples of 4", "32x32")),
        (["evaluate", "--model", anysize, "--size", "16x18"], "multiples of 4"),
        (["predict", "--model", anysize, str(img), "--out", out, "--size", "30"], "multiples of 4"),
        (["evaluate", "--model", model, "--size", "32"], "the model takes 16x16 images only; drop --size"),
        (["predict", "--model", model, str(img), "--out", out, "--size", "24"], "takes 16x16 images only"),
        # --- messages that pointed the wrong way
        (["evaluate", "--model", model, "--data", str(beyond)],
         ("mask labels {5} are beyond the 2 classes the model", "or pass --ignore-label 5"), ("--num-classes",)),
        (["evaluate", "--model", model, "--data", str(beyond3)],
         ("mask labels {5, 7} are beyond the 2 classes", "labels 0..1"), ("--num-classes", "--ignore-label")),
        ([*base, "--data", str(broken_image)], f"m0.png: a broken symbolic link (to {tmp / 'gone.png'})",
         ("without an image",)),
        ([*base, "--data", str(broken_mask)], "m1.png: a broken symbolic link", ("without a mask",)),
        ([*base, "--data", str(tif)], ("1 file(s) in", "in an unsupported format: m0.tif (format .tif",
                                       "convert them, masks to PNG"), ("without a mask",)),
        ([*base, "--data", str(webp_ext)], "unsupported format: m3.webp (format .webp", ("without a mask",)),
        ([*base, "--data", str(bmp_image)], "unsupported format: m1.bmp", ("without an image",)),
        ([*base, "--data", str(device)], "m0.png: not a regular file (a device, pipe or socket)"),
        (["predict", "--model", model, str(photos), "--out", out], f"{photos}: is a directory; pass image files"),
        (["predict", "--model", model, "/dev/zero", "--out", out], "/dev/zero: not a regular file (a device or pipe)"),
        # --- an --out that cannot be written
        ([*base[:-1], str(broken_out)], f"--out {broken_out}: a broken symbolic link (to {tmp / 'nowhere'})"),
        ([*base[:-1], "/proc/gruseg-out"], "--out /proc/gruseg-out: cannot create the directory"),
        (["train", "--model-arg", "seed=-1", "--out", out], "--model-arg: seed must be None or an integer"),
        (["predict", "--model", model, str(tmp / "nope.png"), "--out", out], "nope.png: file not found"),
        # --- a --out another run is writing into
        ([*base[:-1], str(locked)], (f"--out {locked}: gruseg train (pid {pid} on host", "is writing there")),
        ([*base[:-1], str(locked), "--resume"], f"(pid {pid} on host"),
        ([*base[:-1], str(locked), "--overwrite"], f"(pid {pid} on host"),
    ]


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_every_user_error_is_one_line_exit_2_and_writes_nothing(tmp_path, model_run, any_size_model, lock_holder,
                                                                 capsys):
    cases = _user_error_cases(tmp_path, model_run, any_size_model, lock_holder)
    failures = error_table_failures(cases, [tmp_path, model_run["out"]], capsys)
    assert not failures, "\n".join(failures)
    assert len(cases) >= 70


def test_overwrite_replaces_whatever_stands_in_the_checkpoints_place(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint").write_text("not a directory")
    assert main([*TRAIN, "--epochs", "1", "--out", str(out), "--overwrite"]) == 0
    assert (out / "checkpoint" / "state.json").is_file()


def test_a_size_agnostic_model_runs_at_another_size_it_can_take(any_size_model, tmp_path, capsys):
    assert main(["evaluate", "--model", str(any_size_model), "--samples", "3", "--dataset", "long-range", "--size",
                 "24", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["size"] == [24, 24]
    photo = tmp_path / "p.png"
    save(photo, rgb(30, 45))
    assert main(["predict", "--model", str(any_size_model), str(photo), "--size", "32", "--out",
                 str(tmp_path / "pred"), "--quiet"]) == 0
    assert Image.open(tmp_path / "pred" / "p_mask.png").size == (45, 30)


def test_environment_failures_become_one_line(monkeypatch, tmp_path, capsys):
    class ResourceExhaustedError(Exception):  # the name TensorFlow's OOM error has
        pass

    for error, words in [
        (MemoryError(), "out of memory; lower --batch-size or --size, or use less data (--samples) or a smaller model"),
        (ResourceExhaustedError("OOM when allocating tensor with shape[65536,65536] and type int64"),
         "out of memory (TensorFlow could not allocate a tensor of shape[65536,65536])"),
        (PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "o" / "x")),
         f"{tmp_path / 'o' / 'x'}: Permission denied; check the path and its permissions"),
        (OSError(errno.EROFS, "Read-only file system", "/mnt/ro"), "/mnt/ro: Read-only file system; check the path"),
        (OSError(errno.ENOSPC, "No space left on device", "/mnt/full"), "/mnt/full: no space left on the device; "
                                                                        "nothing of this run was kept"),
    ]:
        def boom(*args, error=error):
            raise error

        monkeypatch.setattr(gruseg.cli, "_train", boom)
        assert main([*TRAIN, "--out", str(tmp_path / "o")]) == 2
        line = _one_line_error(capsys)
        assert words in line and f"nothing of this run was kept in {tmp_path / 'o'}" in line, line
    assert not (tmp_path / "o").exists()

    def bug(*args):
        raise OSError(errno.EIO, "Input/output error")  # no file name: not the user's to fix, not swallowed

    monkeypatch.setattr(gruseg.cli, "_train", bug)
    with pytest.raises(OSError, match="Input/output error"):
        main([*TRAIN, "--out", str(tmp_path / "o")])


# ==================================================== 3. --resume checks the whole checkpoint first


def _state(ckpt):
    return json.loads((ckpt / "state.json").read_text())


def _edit_state(**changes):
    def damage(ckpt):
        state = _state(ckpt)
        for key, value in changes.items():
            if value is _DROP:
                state.pop(key)
            else:
                state[key] = value
        (ckpt / "state.json").write_text(json.dumps(state))
    return damage


_DROP = object()


def _write(name, data):
    def damage(ckpt):
        path = ckpt / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)
    return damage


def _halve(ckpt):
    path = ckpt / _state(ckpt)["checkpoint"]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _rezip(drop=None, replace=None):
    def damage(ckpt):
        path = ckpt / _state(ckpt)["checkpoint"]
        with zipfile.ZipFile(path) as archive:
            members = {name: archive.read(name) for name in archive.namelist() if name != drop}
        members.update(replace or {})
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)
    return damage


def _foreign_model(name="unet", num_classes=2, **kwargs):
    """Save another model under the checkpoint's name (a U-Net with other arguments, or another builder)."""
    def damage(ckpt):
        from gruseg.models import build_model
        from gruseg.training import compile_segmenter

        builder_args = {"base_filters": 2, "depth": 1, **kwargs} if name == "unet" else kwargs
        model = build_model(name, (16, 16, 3), num_classes, **builder_args)
        compile_segmenter(model, num_classes)
        model.save(ckpt / _state(ckpt)["checkpoint"])
    return damage


def _as_directory(ckpt):
    path = ckpt / _state(ckpt)["checkpoint"]
    path.unlink()
    path.mkdir()


def _remove(name):
    def damage(ckpt):
        path = ckpt / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return damage


# (case, how the checkpoint is damaged, words of the one-line error)
RESUME_DAMAGE = [
    ("run.json not JSON", _write("run.json", "{not json"), "run.json: unreadable run record (JSONDecodeError)"),
    ("run.json a list", _write("run.json", "[1, 2]"), "run.json: damaged run record (not a JSON object)"),
    ("run.json binary", _write("run.json", b"\xff\xfe\x00"), "run.json: unreadable run record"),
    ("state.json not JSON", _write("state.json", '{"epoch": 2,'), "state.json: unreadable checkpoint state"),
    ("state.json empty", _write("state.json", ""), "state.json: unreadable checkpoint state"),
    ("state.json a list", _write("state.json", "[]"), "holds a list, not an object"),
    ("state.json a directory", lambda c: (c.joinpath("state.json").unlink(), c.joinpath("state.json").mkdir()),
     "state.json: unreadable checkpoint state (IsADirectoryError"),
    ("no epoch", _edit_state(epoch=_DROP), "has no 'epoch'"),
    ("epoch a string", _edit_state(epoch="2"), "'epoch' is '2', not a non-negative integer"),
    ("epoch negative", _edit_state(epoch=-1), "'epoch' is -1"),
    ("epoch a bool", _edit_state(epoch=True), "'epoch' is True"),
    ("epoch a float", _edit_state(epoch=2.0), "'epoch' is 2.0"),
    ("checkpoint names run.json", _edit_state(checkpoint="run.json"), "'checkpoint' is 'run.json', not a file name"),
    ("checkpoint names a path", _edit_state(checkpoint="../model.keras"), "not a file name like epoch_0003.keras"),
    ("checkpoint of another epoch", _edit_state(checkpoint="epoch_0001.keras"),
     "'checkpoint' 'epoch_0001.keras' is not the model of epoch 2"),
    ("checkpoint missing", _remove("epoch_0002.keras"), "names the checkpoint epoch_0002.keras, which is missing"),
    ("checkpoint a directory", _as_directory, "epoch_0002.keras: a directory, not a checkpoint file"),
    ("checkpoint a text file", _write("epoch_0002.keras", "hello"), "the checkpoint is damaged (not a complete "
                                                                   ".keras archive"),
    ("checkpoint cut in half", _halve, "epoch_0002.keras: the checkpoint is damaged"),
    ("checkpoint without weights", _rezip(drop="model.weights.h5"), "the checkpoint is damaged (incomplete)"),
    ("checkpoint with garbage weights", _rezip(replace={"model.weights.h5": b"garbage" * 10}),
     "model.weights.h5 is not an HDF5 file"),
    ("checkpoint with garbage config", _rezip(replace={"config.json": b"[1"}), "config.json is not a JSON object"),
    ("checkpoint of another architecture", _foreign_model("reseg", renet_units=[2], filters=[2]),
     "epoch_0002.keras: this checkpoint does not fit the model being trained"),
    ("checkpoint of a deeper U-Net", _foreign_model(depth=2), "this checkpoint does not fit the model"),
    ("checkpoint with other classes", _foreign_model(num_classes=3), "this checkpoint does not fit the model"),
    ("checkpoint with wider layers", _foreign_model(base_filters=4), "this checkpoint does not fit the model"),
    ("history with text", _edit_state(history={"epoch": [1, 2], "loss": ["a", "b"]}), "values that are not numbers"),
    ("history too short", _edit_state(history={"epoch": [1]}), "'history' covers 1 epochs but 'epoch' is 2"),
    ("history not an object", _edit_state(history=[1, 2]), "'history' is not an object of per-epoch lists"),
    ("best_epoch after the last", _edit_state(best_epoch=5), "'best_epoch' is 5, not an epoch done"),
    ("best weights missing", lambda c: (_edit_state(best_epoch=1)(c), _remove("best.weights.h5")(c)),
     "best epoch's weights are in best.weights.h5, which is missing"),
    ("best weights garbage", lambda c: (_edit_state(best_epoch=1)(c), _write("best.weights.h5", "x" * 20)(c)),
     "best.weights.h5: the best epoch's weights are damaged (not an HDF5 file)"),
    ("wait a string", _edit_state(wait="x"), "'wait' is 'x'"),
    ("stopped_early a string", _edit_state(stopped_early="yes"), "'stopped_early' is 'yes', not true/false"),
    ("mode unknown", _edit_state(mode="up"), "'mode' is 'up'"),
]


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_resume_refuses_every_damaged_checkpoint_in_one_line_and_touches_nothing(model_run, tmp_path, capsys):
    failures = []
    for case, damage, words in RESUME_DAMAGE:
        out = tmp_path / case.replace(" ", "_")
        shutil.copytree(model_run["out"], out)
        damage(out / "checkpoint")
        before = listing(out)
        code = main([*model_run["argv"], "--resume", "--out", str(out)])
        err = capsys.readouterr().err.strip().splitlines()
        ok = (code == 2 and len(err) == 1 and err[0].startswith("gruseg: error: ") and words in err[0]
              and ("--overwrite" in err[0] or "original arguments" in err[0]) and listing(out) == before)
        if not ok:
            failures.append(f"{case}: exit {code}, {err}, changed={listing(out) != before}")
    assert not failures, "\n".join(failures)
    assert len(RESUME_DAMAGE) >= 30


def test_resume_with_different_arguments_is_refused(model_run, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(model_run["out"], out)
    assert main([*model_run["argv"], "--seed", "5", "--resume", "--out", str(out)]) == 2
    assert "used different arguments (seed 0 -> 5)" in _one_line_error(capsys)


@pytest.mark.parametrize("leftover", ["run.json only", "state at epoch 0"])
def test_resume_accepts_a_run_killed_before_its_first_epoch(model_run, tmp_path, leftover):
    out = tmp_path / "run"
    (out / "checkpoint").mkdir(parents=True)
    shutil.copy(model_run["out"] / "checkpoint" / "run.json", out / "checkpoint")
    if leftover == "state at epoch 0":
        from gruseg.checkpoints import fresh_state

        (out / "checkpoint" / "state.json").write_text(json.dumps(fresh_state()))
    assert main([*model_run["argv"], "--resume", "--out", str(out)]) == 0
    assert json.loads((out / "history.json").read_text())["epoch"] == [1, 2]


# ====================================== 4. Ctrl-C and a full disk leave --out resumable or as it was


def _sigint(*args, **kwargs):
    """Send this process a real SIGINT. Outside a Keras call the handler raises KeyboardInterrupt here;
    inside one (gruseg._interrupts) it is held, and raised at the next batch boundary or when the call ends."""
    from gruseg.cli import _INTERRUPTS

    os.kill(os.getpid(), signal.SIGINT)
    if _INTERRUPTS.pending:
        return
    time.sleep(10)
    raise AssertionError("SIGINT did not interrupt")


def _on_call(target, n, action, match=None):
    """Patch ``module:attr`` (or ``Class.method``) so that its ``n``-th matching call runs ``action`` first.

    ``action(args)`` may write a partial file and then interrupt or raise; other calls go through.
    """
    module_name, attr = target.split(":")
    owner = __import__(module_name, fromlist=["_"])
    *path, name = attr.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)
    calls = []

    def wrapper(*args, **kwargs):
        if match is None or match(args):
            calls.append(args)
            if len(calls) == n:
                action(args)
        return original(*args, **kwargs)

    return owner, name, wrapper


def _partial_then(then):
    """Write half a file at the path a save function was given (a temporary or staging path), then ``then()``.

    Not for ``write_json``'s target (state.json, run.json): that function writes atomically itself, so
    its half-written file would be a temporary one, which it deletes.
    """
    def action(args):
        for arg in args:
            if isinstance(arg, (str, Path)) and str(arg).endswith((".keras", ".h5", ".json", ".csv", ".png")) \
                    and Path(arg).name not in ("state.json", "run.json"):
                Path(arg).write_bytes(b"half a file")
        then()
    return action


def _enospc(*args):
    raise OSError(errno.ENOSPC, "No space left on device")


def _batch_in_epoch(epoch):
    """Match _Checkpointer.on_train_batch_end calls during (1-based) ``epoch``."""
    return lambda args: args[0].state["epoch"] == epoch - 1


_SAVE = "keras:Model.save"
_STATE = "gruseg.training:write_json"

# (moment, patch target, n-th call, match, epochs kept afterwards (0: --out as it was), via --resume)
# A Ctrl-C during a checkpoint write inside fit is held until the next batch: the write completes and counts.
INTERRUPT_MOMENTS = [
    ("loading the data", "gruseg.data.sources:training_splits", 1, None, 0),
    ("compiling the model", "gruseg.training:compile_segmenter", 1, None, 0),
    ("writing run.json", "gruseg._files:write_json", 1, None, 0),
    ("writing the first state.json", _STATE, 1, None, 0),
    ("the first batch of epoch 1", "gruseg.training:_Checkpointer.on_train_batch_end", 1, _batch_in_epoch(1), 0),
    ("saving the checkpoint of epoch 1", _SAVE, 1, None, 1),
    ("the first batch of epoch 2", "gruseg.training:_Checkpointer.on_train_batch_end", 1, _batch_in_epoch(2), 1),
    ("saving the checkpoint of epoch 2", _SAVE, 2, None, 2),
    ("writing state.json after epoch 2", _STATE, 3, None, 2),
    ("saving the best weights of epoch 1", "keras:Model.save_weights", 1, None, 1),
    ("the final per-class report", "gruseg.cli:_report", 1, None, 2),
    ("saving the final model.keras", _SAVE, 3, None, 2),
    ("writing history.json", "pathlib:Path.write_text", 1, lambda a: a[0].name == "history.json", 2),
    ("drawing curves.png", "gruseg.plotting:save_history_figure", 1, None, 2),
    ("publishing the outputs", "os:replace", 1, lambda a: ".staging-" in str(a[0]), 2),
]


@pytest.fixture
def default_sigint(monkeypatch):
    """Python's own SIGINT handler (raise KeyboardInterrupt), whatever the test runner installed."""
    monkeypatch.setattr(signal, "SIGINT", signal.SIGINT)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _check_after_failure(out, kept, line):
    assert _leftovers(out) == [], _leftovers(out)
    assert holder(out) is None
    if kept == 0:
        assert not out.exists(), sorted(p.name for p in out.rglob("*"))
        assert f"nothing of this run was kept in {out}: " in line
    else:
        state = json.loads((out / "checkpoint" / "state.json").read_text())
        assert state["epoch"] == kept
        assert (out / "checkpoint" / state["checkpoint"]).is_file()
        assert not (out / "metrics.json").exists()
        assert f"{out} keeps the checkpoint of epoch {kept}: " in line


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
@pytest.mark.parametrize("moment, target, n, match, kept", INTERRUPT_MOMENTS, ids=[m[0] for m in INTERRUPT_MOMENTS])
def test_ctrl_c_at_any_moment_leaves_out_resumable_or_as_it_was(tmp_path, monkeypatch, capsys, default_sigint,
                                                                 moment, target, n, match, kept):
    out = tmp_path / "run"
    argv = [*TRAIN, "--epochs", "2", "--patience", "5", "--out", str(out)]
    owner, name, wrapper = _on_call(target, n, _partial_then(_sigint) if "save" in moment else
                                    (lambda args: _sigint()), match)
    monkeypatch.setattr(owner, name, wrapper)
    try:
        code = main(argv)
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped main()")
    assert code == 130
    line = _one_line_error(capsys)
    assert line.startswith("gruseg: error: interrupted; ")
    assert line.endswith("run the same command with --resume" if kept else "run the same command again")
    _check_after_failure(out, kept, line)  # kept == 0: --out does not exist, so a plain rerun is a fresh run
    if kept:
        monkeypatch.undo()
        assert main([*argv, "--resume"]) == 0                       # what the line says works
        assert json.loads((out / "metrics.json").read_text())["config"]["epochs_done"] == 2
        assert _leftovers(out) == []


@pytest.mark.slow  # five trainings in a row: 20-40 s on the shared machine
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_ctrl_c_during_a_resumed_or_overwriting_run_keeps_what_was_there(tmp_path, monkeypatch, capsys,
                                                                         default_sigint):
    out = tmp_path / "run"
    argv = [*TRAIN, "--epochs", "3", "--out", str(out)]
    owner, name, wrapper = _on_call("gruseg.training:_Checkpointer.on_train_batch_end", 1,
                                    lambda args: _sigint(), _batch_in_epoch(2))
    monkeypatch.setattr(owner, name, wrapper)
    assert main(argv) == 130
    capsys.readouterr()
    monkeypatch.setattr(owner, name, _on_call("gruseg.training:_Checkpointer.on_train_batch_end", 1,
                                              lambda args: _sigint(), _batch_in_epoch(2))[2])
    assert main([*argv, "--resume"]) == 130        # interrupted again in the same epoch: epoch 1 stays
    line = _one_line_error(capsys)
    _check_after_failure(out, 1, line)
    monkeypatch.undo()
    assert main([*argv, "--resume"]) == 0
    (out / "notes.txt").write_text("mine")
    monkeypatch.setattr(owner, name, _on_call("gruseg.training:_Checkpointer.on_train_batch_end", 1,
                                              lambda args: _sigint(), _batch_in_epoch(1))[2])
    assert main([*argv, "--overwrite"]) == 130     # the old run was given up; the user's file stays
    assert "nothing of this run was kept" in _one_line_error(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


# (write site, patch target, n-th call, match, epochs kept afterwards)
DISK_FULL_SITES = [
    ("the lock file", "gruseg._lock:_write_record", 1, None, 0),
    ("run.json", "gruseg._files:write_json", 1, None, 0),
    ("the first state.json", _STATE, 1, None, 0),
    ("checkpoint of epoch 1", _SAVE, 1, None, 0),
    ("state.json after epoch 1", _STATE, 2, None, 0),
    ("best weights of epoch 1", "keras:Model.save_weights", 1, None, 0),
    ("checkpoint of epoch 2", _SAVE, 2, None, 1),
    ("state.json after epoch 2", _STATE, 3, None, 1),
    ("the staging directory", "tempfile:mkdtemp", 1, lambda a: True, 2),
    ("final model.keras", _SAVE, 3, None, 2),
    ("history.json", "pathlib:Path.write_text", 1, lambda a: a[0].name == "history.json", 2),
    ("history.csv", "gruseg._files:write_history_csv", 1, None, 2),
    ("curves.png", "gruseg.plotting:save_history_figure", 1, None, 2),
    ("metrics.json", "pathlib:Path.write_text", 1, lambda a: a[0].name == "metrics.json", 2),
]


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
@pytest.mark.parametrize("site, target, n, match, kept", DISK_FULL_SITES, ids=[s[0] for s in DISK_FULL_SITES])
def test_a_full_disk_at_any_write_leaves_out_resumable_or_as_it_was(tmp_path, monkeypatch, capsys,
                                                                     site, target, n, match, kept):
    out = tmp_path / "run"
    argv = [*TRAIN, "--epochs", "2", "--patience", "5", "--out", str(out)]
    if target == "tempfile:mkdtemp":
        match = lambda a: False  # noqa: E731 - mkdtemp is called with keywords; see below
        import tempfile

        original = tempfile.mkdtemp

        def mkdtemp(*args, **kwargs):
            if ".staging-" in str(kwargs.get("prefix", "")):
                _enospc()
            return original(*args, **kwargs)

        monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    else:
        owner, name, wrapper = _on_call(target, n, _partial_then(_enospc), match)
        monkeypatch.setattr(owner, name, wrapper)
    assert main(argv) == 2
    line = _one_line_error(capsys)
    assert "no space left on the device" in line
    assert line.endswith("free some space, then " + ("run the same command with --resume" if kept else
                                                     "run the same command again"))
    _check_after_failure(out, kept, line)
    if kept:
        monkeypatch.undo()
        assert main([*argv, "--resume"]) == 0
        assert json.loads((out / "metrics.json").read_text())["config"]["epochs_done"] == 2
        assert _leftovers(out) == []


def test_a_full_disk_in_predict_writes_nothing(model_run, tmp_path, monkeypatch, capsys):
    photo = tmp_path / "p.png"
    save(photo, rgb(16, 16))
    owner, name, wrapper = _on_call("gruseg.plotting:save_rgb_png", 2, _partial_then(_enospc))
    monkeypatch.setattr(owner, name, wrapper)
    out = tmp_path / "pred"
    assert main(["predict", "--model", str(model_run["out"] / "model.keras"), str(photo), "--out", str(out)]) == 2
    line = _one_line_error(capsys)
    assert f"{out}: no space left on the device; nothing was written there" in line
    assert not out.exists() and _leftovers(out) == []


# ===================================================== 5. a diverged run does not claim success


def _nan_loss_in_epoch(epoch, value=float("nan")):
    original = gruseg.training._Checkpointer.on_train_batch_end

    def on_train_batch_end(self, batch, logs=None):
        if self.state["epoch"] == epoch - 1:
            logs = {**(logs or {}), "loss": value}
        return original(self, batch, logs)

    return on_train_batch_end


@pytest.mark.slow  # a run and its resume, per case: 20-40 s on the shared machine
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
@pytest.mark.parametrize("epoch, value", [(1, float("nan")), (2, float("nan")), (3, float("inf"))])
def test_a_diverged_run_exits_1_writes_no_model_and_resumes_from_the_last_finite_epoch(tmp_path, monkeypatch, capsys,
                                                                                       epoch, value):
    out = tmp_path / "run"
    argv = [*TRAIN, "--epochs", "3", "--learning-rate", "0.005", "--out", str(out)]
    monkeypatch.setattr(gruseg.training._Checkpointer, "on_train_batch_end", _nan_loss_in_epoch(epoch, value))
    assert main(argv) == 1
    line = _one_line_error(capsys)
    assert line.startswith(f"gruseg: error: training diverged: the loss became {value} in epoch {epoch} (step 1) at "
                           "learning rate 0.005; ")
    assert "start again with a lower --learning-rate" in line
    assert not (out / "model.keras").exists() and not (out / "metrics.json").exists()
    _check_after_failure(out, epoch - 1, line)
    if epoch > 1:
        assert line.endswith("(with --overwrite, or a new --out), or run the same command with --resume to continue "
                             "from there")
    else:
        assert line.endswith("start again with a lower --learning-rate")
    monkeypatch.undo()
    assert main([*argv, "--resume"] if epoch > 1 else argv) == 0
    assert json.loads((out / "history.json").read_text())["epoch"] == [1, 2, 3]


def test_a_real_nan_in_the_weights_stops_training_and_keeps_the_finite_checkpoint(tmp_path):
    from gruseg.training import TrainingDiverged, compile_segmenter, set_seed, train

    set_seed(0)
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1, activation="softmax")(inputs))
    compile_segmenter(model, 2)
    images = np.random.default_rng(0).random((8, 16, 16, 3)).astype("float32")
    masks = (images[..., 0] > 0.5).astype("int32")

    class Poison(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:  # after epoch 1 was checkpointed, the weights go bad
                self.model.layers[-1].kernel.assign(np.full((1, 1, 3, 2), np.nan, "float32"))

    from gruseg.data.pipeline import batches

    with pytest.raises(TrainingDiverged) as info:
        train(model, batches(images, masks, batch_size=4), epochs=3, out_dir=tmp_path, verbose=0,
              callbacks=[Poison()])
    assert info.value.epoch == 2 and info.value.step == 1 and not np.isfinite(info.value.loss)
    assert "the last finite checkpoint (epoch 1) is kept" in str(info.value)
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 1 and sorted(p.name for p in (tmp_path / "checkpoint").iterdir()) == [
        "epoch_0001.keras", "state.json"]
    kept = keras.saving.load_model(tmp_path / "checkpoint" / "epoch_0001.keras", compile=False)
    assert all(np.isfinite(w).all() for w in kept.get_weights())


# ================================================================== 6. one run at a time per --out


def test_directory_lock_refuses_a_second_holder_and_leaves_no_trace(tmp_path):
    directory = tmp_path / "new" / "out"
    with DirectoryLock(directory, what="--out X", command="gruseg train"):
        info = holder(directory)
        assert info["pid"] == os.getpid() and info["command"] == "gruseg train" and info["host"]
        with pytest.raises(LockHeld, match=rf"--out X: gruseg train \(pid {os.getpid()} on host "):
            DirectoryLock(directory, what="--out X").acquire()
        with pytest.raises(LockHeld):
            DirectoryLock(directory).check()
    assert not directory.exists() and holder(directory) is None  # it created the directory: removed again
    existing = tmp_path / "kept"
    existing.mkdir()
    with DirectoryLock(existing):
        (existing / "result.txt").write_text("x")
    assert sorted(p.name for p in existing.iterdir()) == ["result.txt"]


def test_the_lock_works_without_flock_too(tmp_path, monkeypatch):
    import fcntl

    def no_flock(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")  # as on some network file systems

    monkeypatch.setattr(fcntl, "flock", no_flock)
    directory = tmp_path / "out"
    with DirectoryLock(directory, what="--out X"):
        assert holder(directory)["pid"] == os.getpid()
        with pytest.raises(LockHeld, match=rf"pid {os.getpid()} on host .*if no such process runs, delete"):
            DirectoryLock(directory, what="--out X").acquire()
    assert holder(directory) is None and not directory.exists()
    directory.mkdir()
    (directory / LOCK_FILE).write_text(json.dumps({"pid": _dead_pid(), "host": os.uname().nodename}))
    with DirectoryLock(directory):                # a dead holder's lock is taken over
        assert holder(directory)["pid"] == os.getpid()


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("content", ["dead pid", "garbage", "empty"])
def test_a_stale_lock_is_taken_over_and_does_not_make_out_non_empty(tmp_path, content):
    out = tmp_path / "run"
    out.mkdir()
    text = {"dead pid": json.dumps({"pid": _dead_pid(), "host": os.uname().nodename, "command": "gruseg train"}),
            "garbage": "\x00\x01 not json", "empty": ""}[content]
    (out / LOCK_FILE).write_text(text)          # left by a run killed with SIGKILL
    assert holder(out) is None
    assert main([*TRAIN, "--epochs", "1", "--out", str(out)]) == 0     # not "exists and is not empty"
    assert not (out / LOCK_FILE).exists() and (out / "metrics.json").is_file()


@pytest.mark.slow  # three trainings in a row: 20-40 s on the shared machine
def test_the_lock_is_released_on_success_error_and_interrupt(tmp_path, monkeypatch, default_sigint, capsys):
    out = tmp_path / "run"
    argv = [*TRAIN, "--epochs", "1", "--out", str(out)]
    seen = []
    original = gruseg.training.train

    def spy(*args, **kwargs):  # while training runs, the lock is held by this process
        seen.append(holder(out))
        return original(*args, **kwargs)

    monkeypatch.setattr(gruseg.training, "train", spy)
    assert main(argv) == 0
    assert seen[0]["pid"] == os.getpid() and holder(out) is None and not (out / LOCK_FILE).exists()
    monkeypatch.setattr(gruseg.training._Checkpointer, "on_train_batch_end", _nan_loss_in_epoch(2))
    assert main([*argv[:-4], "--epochs", "2", "--out", str(out), "--resume"]) == 1       # diverged
    assert holder(out) is None and not (out / LOCK_FILE).exists()
    monkeypatch.setattr(gruseg.training._Checkpointer, "on_train_batch_end",
                        _on_call("gruseg.training:_Checkpointer.on_train_batch_end", 1, lambda a: _sigint())[2])
    assert main([*argv[:-4], "--epochs", "2", "--out", str(out), "--resume"]) == 130    # Ctrl-C
    assert holder(out) is None and not (out / LOCK_FILE).exists()
    capsys.readouterr()


# ============================================ 7. real processes: SIGINT from outside, a second run


def _wait_for_epoch(out, proc, at_least, deadline=300):
    state = out / "checkpoint" / "state.json"
    end = time.monotonic() + deadline
    while time.monotonic() < end and proc.poll() is None:
        try:
            if json.loads(state.read_text())["epoch"] >= at_least:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"no epoch {at_least} (exit {proc.poll()}): {proc.stderr.read() if proc.poll() else ''}")


def _start_training(out, tmpdir, epochs=60):
    tmpdir.mkdir(exist_ok=True)
    argv = [*TRAIN, "--samples", "24", "--epochs", str(epochs), "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "gruseg", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**ENV, "TMPDIR": str(tmpdir)})
    return proc, argv


@pytest.mark.slow  # a TensorFlow subprocess: ~20-40 s on the shared machine
def test_sigint_from_outside_mid_training_and_a_concurrent_run(tmp_path, capsys):
    out, tmpdir = tmp_path / "run", tmp_path / "tmp"
    proc, argv = _start_training(out, tmpdir)
    try:
        _wait_for_epoch(out, proc, 2)
        # a second run into the same --out is refused in one line, naming the first one's pid
        for extra in ([], ["--resume"], ["--overwrite"]):
            assert main([*argv, *extra]) == 2
            assert f"is writing there" in (line := _one_line_error(capsys)) and f"(pid {proc.pid} on host" in line
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert err.strip().splitlines() == [
        f"gruseg: error: interrupted; {out} keeps the checkpoint of epoch {state['epoch']}: run the same command "
        "with --resume"]
    assert _leftovers(out) == [] and list(tmpdir.iterdir()) == []      # no Keras temp dirs either
    epochs = state["epoch"] + 1
    assert main([*argv[:-4], "--epochs", str(epochs), "--out", str(out), "--resume"]) == 0
    assert json.loads((out / "history.json").read_text())["epoch"] == list(range(1, epochs + 1))


@pytest.mark.slow  # a TensorFlow subprocess
def test_sigint_from_outside_before_the_first_epoch_ends(tmp_path):
    out, tmpdir = tmp_path / "run", tmp_path / "tmp"
    proc, argv = _start_training(out, tmpdir)
    try:
        _wait_for_epoch(out, proc, 0)           # state.json at epoch 0: the run is building its graph
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130 and len(err.strip().splitlines()) == 1, err
    assert _leftovers(out) == [] and list(tmpdir.iterdir()) == []
    if out.exists():  # the signal came after epoch 1 finished after all: then it is kept
        epoch = json.loads((out / "checkpoint" / "state.json").read_text())["epoch"]
        assert epoch >= 1 and f"keeps the checkpoint of epoch {epoch}" in err
    else:
        assert f"nothing of this run was kept in {out}: run the same command again" in err


# ====================================== 8. matplotlib's cache warning under a HOME that is not writable

_MPL_PROBE = ("import sys; {setup}import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt; "
              "plt.figure(); print(matplotlib.get_configdir())")


@pytest.mark.parametrize("home", ["under a file", "/proc"])
def test_matplotlib_gets_a_private_cache_dir_when_home_is_not_writable(tmp_path, home):
    if home == "under a file":
        (tmp_path / "file").write_text("x")
        home = str(tmp_path / "file" / "home")
    env = {k: v for k, v in ENV.items() if k not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    env["HOME"] = home
    plain = subprocess.run([sys.executable, "-c", _MPL_PROBE.format(setup="")], capture_output=True, text=True,
                           env=env, timeout=120)
    assert "Matplotlib created a temporary" in plain.stderr    # the problem is real ...
    fixed = subprocess.run([sys.executable, "-c", _MPL_PROBE.format(
        setup="from gruseg.cli import _configure_matplotlib; _configure_matplotlib(); ")],
        capture_output=True, text=True, env=env, timeout=120)
    assert fixed.returncode == 0 and fixed.stderr == "", fixed.stderr    # ... and gone
    assert "gruseg-matplotlib-" in fixed.stdout
    writable = subprocess.run([sys.executable, "-c", _MPL_PROBE.format(
        setup="from gruseg.cli import _configure_matplotlib; _configure_matplotlib(); ")],
        capture_output=True, text=True, env={**env, "HOME": str(tmp_path)}, timeout=120)
    assert "gruseg-matplotlib-" not in writable.stdout                  # a writable HOME is left alone


@pytest.mark.slow  # a TensorFlow subprocess
def test_quiet_predict_prints_nothing_with_a_read_only_home(model_run, tmp_path):
    photo = tmp_path / "p.png"
    save(photo, rgb(16, 16))
    env = {k: v for k, v in ENV.items() if k not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    result = subprocess.run([sys.executable, "-m", "gruseg", "predict", "--model", str(model_run["out"] / "model.keras"),
                             str(photo), "--out", str(tmp_path / "pred"), "--quiet"],
                            capture_output=True, text=True, env={**env, "HOME": "/proc"}, timeout=300)
    assert result.returncode == 0 and result.stderr == "" and result.stdout == "", result.stderr
    assert (tmp_path / "pred" / "p_mask.png").is_file()
