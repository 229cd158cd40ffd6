"""Addresses said without their credentials: what logs, messages and exports may show."""

from __future__ import annotations

import pytest

from samvid.redact import (
    redis_url_for_messages,
    ref_for_log,
    server_url_for_messages,
    text_without_url_password,
    url_for_messages,
    url_without_credentials,
    url_without_userinfo,
)


@pytest.mark.parametrize(("url", "shown"), [
    ("http://USER:PW@127.0.0.1:18090", "http://***@127.0.0.1:18090"),
    ("http://admin:PW@ls.example:8080/projects/1/data?task=5", "http://***@ls.example:8080/projects/1/data?task=5"),
    ("https://PW@ls.example", "https://***@ls.example"),  # a token as the user name
    ("http://admin:P/W?x#y@ls.example:8080/x", "http://***@ls.example:8080/x"),  # unencoded "/", "?", "#"
    ("admin:PW@ls.example:8080", "***@ls.example:8080"),  # no scheme: /setup's hostname may lack it
    ("http://127.0.0.1:9090", "http://127.0.0.1:9090"),
    ("http://[::1]:8080/frames/a@2x.png", "http://[::1]:8080/frames/a@2x.png"),  # an "@" in a path is no password
    ("http://ls.example/frames/a@2x.png", "http://ls.example/frames/a@2x.png"),
    ("http://admin:12/PW@ls.example:8080", "http://***@ls.example:8080"),  # urlparse: host "admin", port 12
    # ... which "ls.example:8080/a@2x.png" cannot be told from: hidden, as a password may be.
    ("http://ls.example:8080/frames/a@2x.png", "http://***@2x.png"),
    ("http://ls.example:8080?next=a@b.example", "http://ls.example:8080?next=a@b.example"),  # a query's "@"
    ("http://admin:12?pw@ls.example:8080", "http://***@ls.example:8080"),
])
def test_a_server_url_is_said_without_its_user_and_password(url: str, shown: str) -> None:
    assert server_url_for_messages(url) == shown


@pytest.mark.parametrize(("url", "unsigned"), [
    ("http://localhost:8080/data/local-files/?d=videos/a.mp4", "http://localhost:8080/data/local-files/?d=videos/a.mp4"),
    ("https://www.youtube.com/watch?v=A&t=30#x", "https://www.youtube.com/watch?v=A&t=30"),
    ("https://AKIA:PW@b.s3.amazonaws.com/f.png?X-Amz-Credential=AKIA&X-Amz-Signature=SIG&part=2&X-Amz-Date=1",
     "https://b.s3.amazonaws.com/f.png?part=2"),
    ("https://b.s3.amazonaws.com/f.png?x-amz-security-token=T&X%2DAmz%2DSignature=SIG", "https://b.s3.amazonaws.com/f.png"),
    ("https://storage.googleapis.com/b/f.png?X-Goog-Algorithm=A&x-goog-signature=SIG", "https://storage.googleapis.com/b/f.png"),
    ("https://storage.googleapis.com/b/f.png?GoogleAccessId=sa&Expires=1&Signature=SIG", "https://storage.googleapis.com/b/f.png"),
    ("https://a.blob.core.windows.net/c/f.png?sv=1&sr=b&sp=r&st=1&se=2&skoid=O&sig=SIG", "https://a.blob.core.windows.net/c/f.png"),
    ("https://cdn.example/f.png?st=30&sp=2", "https://cdn.example/f.png?st=30&sp=2"),  # no SAS: no "sig"
    ("https://d1.cloudfront.net/f.png?Policy=P&Signature=SIG&Key-Pair-Id=K&w=2", "https://d1.cloudfront.net/f.png?w=2"),
    ("https://cdn.example/f.png?Token=T&access_token=A&id=1", "https://cdn.example/f.png?id=1"),
    ("https://x.googleapis.com/v.mp4?key=AIza&alt=media&api_key=K&password=P", "https://x.googleapis.com/v.mp4?alt=media"),
    ("https://cdn.example:8080/f@2x.png?id=1", "https://cdn.example:8080/f@2x.png?id=1"),
    # An "@" in a query after a port is the query's ("to=", "file="), not a password's end.
    ("https://a.example:8080?to=x@b.com", "https://a.example:8080?to=x@b.com"),
    ("http://minio.local:9000?file=videos/a@2x.mp4", "http://minio.local:9000?file=videos/a@2x.mp4"),
    # A nested URL with nothing to take out stays exactly as written, its fragment included.
    ("https://p.example/get?src=https://b.example/v.mp4%23t", "https://p.example/get?src=https://b.example/v.mp4%23t"),
    ("https://p.example/get?src=https%3A%2F%2Fb.example%2Fv.mp4%23frag",
     "https://p.example/get?src=https%3A%2F%2Fb.example%2Fv.mp4%23frag"),
    # Names that only contain a signing word: a page's cursor, a word that begins with one.
    ("https://api.example/v?pageToken=P1&q=cars&tokenizer=w", "https://api.example/v?pageToken=P1&q=cars&tokenizer=w"),
    ("https://api.example/v.mp4?apiToken=T&authToken=A&id=1", "https://api.example/v.mp4?id=1"),
    ("http://u:p/w@cdn.example/f.png", "http://cdn.example/f.png"),  # a port that is no number: a password's
    ("/img/f0.png?X-Amz-Signature=SIG&d=1", "/img/f0.png?d=1"),  # as urllib3 logs a request
    # an unencoded "?" or "#" in a password after digits, or none: a port to urlparse ...
    ("https://admin:12?PW@cdn.example/v.mp4", "https://cdn.example/v.mp4"),
    ("https://admin:?PW@cdn.example/v.mp4", "https://cdn.example/v.mp4"),
    ("https://admin:12#P@W@cdn.example/v@2x.mp4?id=1", "https://cdn.example/v@2x.mp4?id=1"),
    # ... which an IPv6 host is not: no user name starts with "["
    ("http://[::1]:8080?to=a@b&X-Plex-Token=T", "http://[::1]:8080?to=a@b"),
    # names by pattern: whatever holds signature, token, secret, password, passwd, credential
    ("https://cdn.example/v.mp4?X-Plex-Token=T&refresh_token=R&client_secret=S&my_password=P&passwd=W&Credential=C"
     "&v=2", "https://cdn.example/v.mp4?v=2"),
    ("https://f0.backblazeb2.com/file/b/v.mp4?Authorization=T&auth=A&apikey=K&API-Key=K&api_key=K",
     "https://f0.backblazeb2.com/file/b/v.mp4"),
    ("https://b.cos.ap-beijing.myqcloud.com/v.mp4?q-sign-algorithm=sha1&q-ak=AK&q-sign-time=1%3B2&q-key-time=1%3B2"
     "&q-header-list=host&q-url-param-list=&q-signature=SIG&d=1", "https://b.cos.ap-beijing.myqcloud.com/v.mp4?d=1"),
    ("https://b.oss-cn-hangzhou.aliyuncs.com/v.mp4?OSSAccessKeyId=K&Expires=1&Signature=SIG&security-token=T"
     "&x-oss-process=video/snapshot,t_1000", "https://b.oss-cn-hangzhou.aliyuncs.com/v.mp4?x-oss-process=video/snapshot,t_1000"),
    # "key" may name the object: only a Google API key's is dropped
    ("https://cdn.example/get?key=videos/a.mp4&key=AIzaK", "https://cdn.example/get?key=videos/a.mp4"),
    # a signed URL in a parameter loses its signature; one that has none is left as written
    ("https://proxy.example/fetch?src=https%3A%2F%2Fb.s3.amazonaws.com%2Fv.mp4%3FX-Amz-Signature%3DSIG%26part%3D2&w=2",
     "https://proxy.example/fetch?src=https%3A%2F%2Fb.s3.amazonaws.com%2Fv.mp4%3Fpart%3D2&w=2"),
    ("https://proxy.example/fetch?src=https://u:PW@cdn.example/v.mp4", "https://proxy.example/fetch?src=https://cdn.example/v.mp4"),
    ("https://proxy.example/fetch?src=https%3A%2F%2Fcdn.example%2Fv.mp4%3Fd%3D1&auth=T",
     "https://proxy.example/fetch?src=https%3A%2F%2Fcdn.example%2Fv.mp4%3Fd%3D1"),
])
def test_a_url_without_credentials_keeps_every_parameter_but_those_that_sign_it(url: str, unsigned: str) -> None:
    assert url_without_credentials(url) == unsigned


def test_a_log_line_says_which_local_file_and_not_a_presigned_images_signature() -> None:
    assert ref_for_log("http://ls:8080/data/local-files/?d=videos/f0.png") == "http://ls:8080/data/local-files/?d=videos/f0.png"
    assert ref_for_log("https://b.s3.amazonaws.com/f0.png?X-Amz-Credential=AKIA&X-Amz-Signature=SIG&v=2") == \
        "https://b.s3.amazonaws.com/f0.png?v=2"


@pytest.mark.parametrize(("url", "text", "said"), [
    # user:password@ is hidden whatever the password's length
    ("http://u:1@ls.example:8080", "at http://u:1@ls.example:8080/api", "at http://***@ls.example:8080/api"),
    # a password shorter than 4 characters is left alone elsewhere: it is in too many words and numbers
    ("http://u:1@ls.example:8080", 'Invalid pk "1234" (task 1)', 'Invalid pk "1234" (task 1)'),
    ("http://u:a@ls.example:8080", "a cat at a mat", "a cat at a mat"),
    # ... as is one inside a word or number
    ("http://u:1234@ls.example:8080", 'Invalid pk "12345", password 1234', 'Invalid pk "12345", password ***'),
    ("http://u:s3cret@ls.example:8080", "s3cret, s3crets, (s3cret)", "***, s3crets, (***)"),
    # as given and percent-decoded
    ("http://u:p%40ss1@ls.example:8080", "p%40ss1 or p@ss1", "*** or ***"),
])
def test_a_url_password_is_hidden_in_text_only_where_it_cannot_be_part_of_other_words(url, text, said):
    assert text_without_url_password(text, url) == said


@pytest.mark.parametrize(("url", "said"), [
    ("http://u:pw@ls:8080/data/local-files/?d=videos/a.png", "http://ls:8080/data/local-files/?d=videos/a.png"),
    ("https://b.s3.amazonaws.com/f.png?X-Amz-Signature=abc&X-Amz-Credential=k&part=2",
     "https://b.s3.amazonaws.com/f.png?part=2"),
    ("http://u:s3/cret@cdn.example/f.png?d=1", "http://cdn.example/f.png?d=1"),  # an unencoded "/" in the password
    ("http://ls:8080/data/local-files/?d=" + "a" * 300, ("http://ls:8080/data/local-files/?d=" + "a" * 300)[:200]),
])
def test_an_image_url_in_a_message_keeps_what_tells_which_file_and_drops_what_signs_it(url, said):
    assert url_for_messages(url) == said


@pytest.mark.parametrize(("url", "host_on"), [
    ("http://admin:P/W@ls.example/frames/a@2x.png", "ls.example/frames/a@2x.png"),
    ("https://admin:12#P@W@cdn.example/v@2x.mp4?id=1", "cdn.example/v@2x.mp4?id=1"),
    ("http://admin:P?W@ls.example:8080?next=a@b.example", "ls.example:8080?next=a@b.example"),
])
def test_a_file_url_whose_password_holds_an_unencoded_slash_keeps_its_host_and_path(url, host_on):
    """An "@" after the host (``a@2x.png``, ``?next=a@b``) is taken as no password's: the URL
    must still say which file. A message hides all up to the last "@" (next test)."""
    assert url_without_credentials(url) == f"{url.partition('://')[0]}://{host_on}"


@pytest.mark.parametrize(("url", "said"), [
    ("http://admin:pa/ss@wo?rd@ls.example:8080", "http://***@ls.example:8080"),
    ("http://admin:12/s3@c/ret@ls.example:8080", "http://***@ls.example:8080"),
    ("http://admin:P/W@ls.example/frames/a@2x.png", "http://***@2x.png"),  # too much, never too little
    ("http://me@corp.com:pa/ss@ls.example:8080", "http://***@ls.example:8080"),  # an e-mail login
    ("http://admin:p@a/ss@ls.example:8080", "http://***@ls.example:8080"),
])
def test_a_server_url_in_a_message_never_shows_a_part_of_a_password_holding_an_at_sign(url, said):
    """Which "@" ends a password holding "/" or "?" and "@" is a guess: a message showed
    "wo?rd" and "c/ret" as if a host's path."""
    assert server_url_for_messages(url) == said


@pytest.mark.parametrize("url", ["rediss://default:S3c@ss?client_name=y@cache.example.net:6380/0",
                                 "redis://:S3cret@host/0?password=S3c@ret", "redis://:S3cr@host/0?client_name=me@box",
                                 "redis://:S3c#ret@cache:6379/0?password=S3c@ret", "unix://:S3c#r@/tmp/r.sock?password=S3c@ret"])
def test_a_redis_password_before_the_host_with_an_at_sign_after_it_is_never_shown(url):
    # Which "@" ends the password cannot be told: "ss" of p@ss was shown as the host.
    assert not any(part in redis_url_for_messages(url) for part in ("S3c", "ss?", "ret"))


@pytest.mark.parametrize("url, shown", [
    ("redis://s3cret@host:6379/0", "redis://***@host:6379/0"),
    ("rediss://s3c%40ret@cache.example.net:6380", "rediss://***@cache.example.net:6380"),
    ("unix://s3cret@/run/redis.sock?db=2", "unix://***@/run/redis.sock?db=2"),
])
def test_a_redis_password_written_without_its_colon_is_not_shown(url, shown):
    """``redis://s3cret@host`` is redis-py's user "s3cret" with no password (it sends
    ``AUTH s3cret ""``): most often a password whose ":" was left out, and it was shown."""
    assert redis_url_for_messages(url) == shown


def test_a_url_to_call_loses_its_user_and_password_and_nothing_else():
    assert url_without_userinfo("https://proxy:pw@ls.example:8443/ls?x=1#f") == "https://ls.example:8443/ls?x=1#f"
    # urlsplit drops tabs and line breaks: the URL was cut short by the dropped characters' count.
    assert url_without_userinfo("http://u\t@ls.example:8080/d/x.png") == "http://ls.example:8080/d/x.png"
