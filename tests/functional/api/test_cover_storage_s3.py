"""The S3 cover storage against moto in server mode (a real HTTP endpoint on loopback, never AWS):
objects written private, typed and cached for a year; orphans tagged for the lifecycle rule;
stable URLs on the CDN; and the upload endpoint writing through it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from bookstore_api.covers.storage import CACHE_CONTROL, S3CoverStorage, storage_from_settings
from tests.functional.api.test_covers import new_book, put_cover
from tests.functional.conftest import LIVE_URL
from tests.helpers.images import decoded, image_bytes

pytest.importorskip("moto", reason="moto[server] comes with the infrastructure tools (make bootstrap)")
pytestmark = pytest.mark.skipif(bool(LIVE_URL), reason="swaps the in-process API's cover storage")

BUCKET = "bookstore-test-covers"
CDN = "https://covers.example.test/"
KEY = "42/" + "ab" * 16 + "-480w.webp"


@pytest.fixture(scope="module")
def moto_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("moto server did not start")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def s3(moto_url, monkeypatch):
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }.items():
        monkeypatch.setenv(name, value)
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=5).close()
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_url)
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_ownership_controls(
        Bucket=BUCKET, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    return client


@pytest.fixture
def storage(s3, moto_url) -> S3CoverStorage:
    return storage_from_settings(
        {
            "bookstore.covers_storage": "s3",
            "bookstore.covers_bucket": BUCKET,
            "bookstore.covers_public_url": CDN,
            "bookstore.covers_region": "us-east-1",
            "bookstore.covers_endpoint_url": moto_url,
        }
    )


def tags(s3, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}


def test_put_get_and_the_object_as_stored(storage, s3):
    storage.put(KEY, b"RIFF-webp-bytes", "image/webp")
    assert storage.get(KEY) == b"RIFF-webp-bytes"
    head = s3.head_object(Bucket=BUCKET, Key="covers/" + KEY)
    assert head["ContentType"] == "image/webp"
    assert head["CacheControl"] == CACHE_CONTROL
    assert storage.get("42/" + "cd" * 16 + "-480w.webp") is None


def test_objects_are_private(storage, s3, moto_url):
    storage.put(KEY, b"data", "image/webp")
    acl = s3.get_object_acl(Bucket=BUCKET, Key="covers/" + KEY)
    assert [grant["Permission"] for grant in acl["Grants"]] == ["FULL_CONTROL"]
    assert acl["Grants"][0]["Grantee"]["Type"] == "CanonicalUser"
    assert all("URI" not in grant["Grantee"] for grant in acl["Grants"]), "no AllUsers/AuthenticatedUsers grant"


def test_urls_are_stable_cdn_urls(storage):
    assert storage.url(KEY) == f"{CDN}covers/{KEY}"
    assert "X-Amz-" not in storage.url(KEY), "no expiring signature in a URL that pages cache"
    with pytest.raises(ValueError):
        storage.url("../../etc/passwd")


def test_orphans_are_tagged_and_a_new_upload_of_the_same_bytes_clears_the_tag(storage, s3):
    storage.put(KEY, b"data", "image/webp")
    assert tags(s3, "covers/" + KEY) == {}
    storage.mark_orphaned([KEY])
    assert tags(s3, "covers/" + KEY) == {"orphaned": "true"}
    assert storage.get(KEY) == b"data", "an orphan stays readable until the lifecycle rule expires it"
    storage.put(KEY, b"data", "image/webp")
    assert tags(s3, "covers/" + KEY) == {}


def test_storage_down_is_503_not_500(s3):
    down = S3CoverStorage(BUCKET, CDN, region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    from bookstore_api.exceptions import Busy

    with pytest.raises(Busy):
        down.put(KEY, b"data", "image/webp")


def test_the_upload_endpoint_writes_through_s3(staff, storage, s3, api_app, monkeypatch):
    monkeypatch.setitem(api_app.registry, "cover_storage", storage)
    book = new_book(staff)
    first = put_cover(staff, book["id"], image_bytes("image/jpeg", (500, 750)), "image/jpeg").json
    assert first["cover_url"].startswith(f"{CDN}covers/{book['id']}/")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert [k.rsplit("-", 1)[1] for k in keys] == ["240w.webp", "480w.webp"]
    image = decoded(s3.get_object(Bucket=BUCKET, Key=keys[1])["Body"].read())
    assert image.format == "WEBP" and image.size == (480, 720)

    second = put_cover(staff, book["id"], image_bytes("image/jpeg", (500, 750), color=(0, 0, 90)), "image/jpeg").json
    assert second["cover_url"] != first["cover_url"]
    assert all(tags(s3, key) == {"orphaned": "true"} for key in keys), "the replaced renditions are orphans"
    new_key = second["cover_url"].removeprefix(CDN)
    assert tags(s3, new_key) == {}
