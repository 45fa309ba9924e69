#!/usr/bin/env bash
# Installs everything the project needs on a Debian 12 machine, and nothing twice:
#   1. Debian packages (Orthanc and its plugins, DICOM tools and validators, fonts),
#   2. the project's virtual environment in .venv with the project installed editable.
# Safe to run again: each step checks first. Needs root (or sudo) for step 1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  orthanc orthanc-python orthanc-dicomweb   # the PACS and its plugins (DESIGN.md §2)
  dcmtk                                      # storescu, dsrdump, dcmcjpeg/dcmcjpls/dcmcrle
  dicom3tools                                # dciodvfy, dcentvfy
  libpixelmed-java default-jre-headless      # PixelMed's DicomSRValidator
  fonts-noto-cjk                             # Chinese text in pictures and reports
  poppler-utils                              # pdftotext/pdftoppm: reading reports back in tests
  chromium                                   # headless browser of the OHIF viewer test
)
PYTHON=${PYTHON:-python3.11}

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The venv is rebuilt when pyproject.toml changes (the stamp keeps its hash).
stamp=.venv/.setup-stamp
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: preparing .venv"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[dev]'
  echo "$want" > "$stamp"
fi

# The OHIF viewer and the browser driver of the viewer test (npm registry), reinstalled
# when viewer/package-lock.json changes.
if [ -f viewer/package-lock.json ]; then
  npm_want=$(sha256sum viewer/package-lock.json | cut -d' ' -f1)
  if [ ! -d viewer/node_modules ] || [ "$(cat viewer/.npm-stamp 2>/dev/null)" != "$npm_want" ]; then
    echo "setup: installing the viewer's npm packages"
    npm ci --prefix viewer --no-audit --no-fund --loglevel=error
    echo "$npm_want" > viewer/.npm-stamp
  fi
fi
