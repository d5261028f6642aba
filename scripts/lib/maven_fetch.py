#!/usr/bin/env python3
"""Downloads pinned jars from Maven Central and checks them against the pinned sha256.

    maven_fetch.py LIST DEST          fetch every jar of LIST into DEST (skips a jar already there
                                      with the right hash); prints the jar paths, one a line
    maven_fetch.py --check LIST DEST  exit 1 (naming them) when a jar is missing or its hash is wrong
    maven_fetch.py --pin LIST         for a list without hashes: download each jar, check it against
                                      the .sha1 Maven Central publishes beside it, print the list
                                      with sha256 pins (how scripts/lib/cloud-jars.txt was made)

LIST has one `group:artifact:version sha256` a line (`#` comments). `MAVEN_REPO` overrides the
repository URL (a mirror of Maven Central). Standard library only: setup runs it with the system
python3, and deploy/Dockerfile with the Spark image's.
"""

import hashlib
import os
import sys
import urllib.request

REPO = os.environ.get('MAVEN_REPO', 'https://repo1.maven.org/maven2').rstrip('/')


def read_list(path):
    out = []
    with open(path, encoding='utf-8') as f:
        for n, raw in enumerate(f, 1):
            line = raw.split('#', 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            coords = parts[0].split(':')
            if len(coords) != 3 or len(parts) > 2:
                sys.exit(f'{path}:{n}: expected `group:artifact:version [sha256]`, got {line!r}')
            out.append((tuple(coords), parts[1] if len(parts) == 2 else None))
    return out


def file_name(coords):
    _, artifact, version = coords
    return f'{artifact}-{version}.jar'


def url_of(coords):
    group, artifact, version = coords
    return f'{REPO}/{group.replace(".", "/")}/{artifact}/{version}/{file_name(coords)}'


def digest(path, algo):
    h = hashlib.new(algo)
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def download(url, dest):
    part = f'{dest}.part-{os.getpid()}'
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(part, 'wb') as out:
            while True:
                block = r.read(1 << 20)
                if not block:
                    break
                out.write(block)
    except Exception:
        if os.path.exists(part):
            os.remove(part)
        raise
    return part


def fetch(list_path, dest, check_only):
    os.makedirs(dest, exist_ok=True) if not check_only else None
    bad = []
    for coords, sha256 in read_list(list_path):
        if sha256 is None:
            sys.exit(f'{list_path}: {":".join(coords)} has no sha256 pin (make one with --pin)')
        path = os.path.join(dest, file_name(coords))
        if os.path.isfile(path) and digest(path, 'sha256') == sha256:
            print(path)
            continue
        if check_only:
            bad.append(file_name(coords))
            continue
        url = url_of(coords)
        try:
            part = download(url, path)
        except Exception as e:
            sys.exit(f'cannot download {url}: {e}')
        got = digest(part, 'sha256')
        if got != sha256:
            os.remove(part)
            sys.exit(f'{url}: sha256 {got}, pinned {sha256}: refusing it')
        os.replace(part, path)
        print(path)
    if bad:
        sys.exit(f'missing or damaged in {dest}: {", ".join(bad)}')


def pin(list_path):
    tmp = os.path.join(os.environ.get('TMPDIR', '/tmp'), f'maven-pin-{os.getpid()}')
    os.makedirs(tmp, exist_ok=True)
    for coords, _ in read_list(list_path):
        url = url_of(coords)
        part = download(url, os.path.join(tmp, file_name(coords)))
        with urllib.request.urlopen(url + '.sha1', timeout=60) as r:
            published = r.read().decode().split()[0].strip()
        if digest(part, 'sha1') != published:
            sys.exit(f'{url}: sha1 does not match the published {published}')
        print(f'{":".join(coords)} {digest(part, "sha256")}')
        os.remove(part)
    os.rmdir(tmp)


def main(argv):
    if len(argv) == 2 and argv[0] == '--pin':
        pin(argv[1])
    elif len(argv) == 3 and argv[0] == '--check':
        fetch(argv[1], argv[2], True)
    elif len(argv) == 2:
        fetch(argv[0], argv[1], False)
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main(sys.argv[1:])
