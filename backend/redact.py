"""Addresses said without what makes them credentials: a URL's ``user:password@`` and the
query parameters that sign it (a presigned S3, GCS or Azure link, a token, an API key).

Logs, messages, banners and exported files name images, videos and servers; none of them
may hand a reader the means to fetch what the URL grants (a presigned link's signature is
its credential), yet each must still say which file it means (Label Studio's ``?d=``).
"""

from __future__ import annotations

import re
from urllib.parse import quote_plus, unquote, unquote_plus


def url_for_messages(url: str) -> str:
    """A URL for messages, at most 200 characters: without what makes it a credential
    (``url_without_credentials``), so that a local file's ``?d=`` still says which file.

    >>> url_for_messages("http://u:pw@ls:8080/data/local-files/?d=videos/a.mp4&X-Amz-Signature=abc")
    'http://ls:8080/data/local-files/?d=videos/a.mp4'
    """
    return url_without_credentials(url)[:200]


# Query parameters that make a URL a credential, by lowercased name: S3 SigV4 and GCS V4
# (X-Amz-*, X-Goog-*), S3 SigV2, GCS V2 and CloudFront (Signature, Expires, AWSAccessKeyId,
# GoogleAccessId, Key-Pair-Id, Policy), Tencent COS (q-ak, q-sign-*, q-key-time, ...), Aliyun
# OSS (OSSAccessKeyId, x-oss-date, ...; not x-oss-process, which makes another picture),
# Backblaze B2's Authorization, API keys. Hidden when in doubt: a name ending in one of
# _SIGNING_WORDS goes too (security-token, client_secret, X-Plex-Token, apiToken), as no such
# name tells two videos apart, but for a page's cursor (pageToken, next_page_token) and words
# that only begin so (tokenizer); nor do a signature's times, kept they would make two
# signatures two clips.
# Not "key" as such: it may name the object (?key=videos/a.mp4), and two videos must not be
# one clip; a Google API key ("AIza...") goes.
_SIGNING_PREFIXES = ("x-amz-", "x-goog-", "q-sign-")
_SIGNING_WORDS = ("signature", "token", "secret", "password", "passwd", "credential")
_SIGNING_NAMES = frozenset({"expires", "awsaccesskeyid", "googleaccessid", "key-pair-id", "policy", "authorization",
                            "auth", "api_key", "apikey", "api-key", "q-ak", "q-key-time", "q-header-list",
                            "q-url-param-list", "ossaccesskeyid", "x-oss-date", "x-oss-expires",
                            "x-oss-signature-version", "x-oss-additional-headers"})
_GOOGLE_API_KEY = "AIza"
# Azure's SAS fields (azure-storage's QueryStringConstants): short names that other URLs use
# for their own ends (?st=30, ?sp=2), so dropped only beside the SAS's signature, "sig".
_AZURE_SAS_NAMES = frozenset({"sig", "sv", "ss", "srt", "sp", "se", "st", "spr", "sip", "sr", "si", "sdd", "ses",
                              "skoid", "sktid", "skt", "ske", "sks", "skv", "skdutid", "sduoid", "saoid", "suoid",
                              "scid", "srh", "srq", "rscc", "rscd", "rsce", "rscl", "rsct"})
_HOST_PORT = re.compile(r"(\[[^\]]*\]|[^:\[\]]*)(:\d*)?")


def url_without_credentials(url: str) -> str:
    """``url`` without what makes it a credential: its ``user:password@``, the query
    parameters that sign it (a presigned S3, GCS, Azure, CloudFront, COS or OSS link's, a
    token, an API key) and its fragment (never sent to a server; an OAuth token's place).
    Every other parameter stays, in order: it tells one object from another (Label Studio's
    ``?d=`` of a local file, ``watch?v=``), while two signatures of one object come out the
    same. A parameter whose value is a URL (a proxy's ``?src=``) loses that URL's credentials.

    >>> url_without_credentials("https://u:pw@b.s3.amazonaws.com/v.mp4?X-Amz-Signature=abc&part=2")
    'https://b.s3.amazonaws.com/v.mp4?part=2'
    >>> url_without_credentials("http://localhost:8080/data/local-files/?d=videos/a.mp4")
    'http://localhost:8080/data/local-files/?d=videos/a.mp4'

    Also for a path with a query (``/f0.png?X-Amz-Signature=abc``, as urllib3 logs a request).
    An "@" after a valid ``host:port`` (``cdn:8080/a@2x.png``) is the path's, as every client
    reads it: a password holding an unencoded "/" fails to fetch there, and is not hidden.
    """
    return _without_credentials(url, nested=True)


def _without_credentials(url: str, nested: bool) -> str:
    """``url_without_credentials``; a parameter's URL value is cleaned too where ``nested``."""
    scheme, sep, rest = url.partition("://")
    if not sep or re.search(r"[/?#]", scheme):
        scheme, sep, rest = "", "", url
    else:
        rest = _without_userinfo(rest)
    base, question, query = rest.partition("#")[0].partition("?")
    base = f"{scheme}{sep}{base}"
    if not question:
        return base
    params = [(raw_name, equals, raw_value, unquote_plus(raw_name).strip().lower(), unquote_plus(raw_value).strip())
              for raw_name, equals, raw_value in (p.partition("=") for p in query.split("&") if p)]
    azure = any(name == "sig" for *_, name, _value in params)
    kept = []
    for raw_name, equals, raw_value, name, value in params:
        if _signs(name, value, azure):
            continue
        if nested and "://" in value[:16]:
            clean = _nested_without_credentials(value)
            if clean != value:
                # As it was written where it can be: a value that was encoded, encoded again.
                raw_value = quote_plus(clean) if raw_value != value else clean
        kept.append(f"{raw_name}{equals}{raw_value}")
    return f"{base}?{'&'.join(kept)}" if kept else base


def _signs(name: str, value: str, azure: bool) -> bool:
    """Whether the query parameter ``name`` (lowercased) ``=value`` makes a URL a credential;
    ``azure``: the query holds a SAS signature."""
    return (name.startswith(_SIGNING_PREFIXES) or name in _SIGNING_NAMES
            or (name.endswith(_SIGNING_WORDS) and "page" not in name)
            or (name == "key" and value.startswith(_GOOGLE_API_KEY)) or (azure and name in _AZURE_SAS_NAMES))


def _nested_without_credentials(value: str) -> str:
    """A URL given as a parameter's value (a proxy's ``?src=``) without its credentials, and
    exactly as it was where it has none: its fragment is the value's, sent to the proxy, and
    kept unless it holds a signing parameter (``#access_token=``)."""
    head, hashmark, fragment = value.partition("#")
    clean = _without_credentials(head, nested=False)
    if clean == head.rstrip("?&"):
        clean = head  # nothing taken out but empty separators: as written
    pairs = [p.partition("=") for p in fragment.split("&") if p]
    if any(_signs(unquote_plus(n).strip().lower(), unquote_plus(v).strip(), False) for n, _, v in pairs):
        return clean
    return clean + hashmark + fragment


def _without_userinfo(rest: str) -> str:
    """``rest``, a URL after its ``scheme://``, without its ``user:password@``.

    Where the host part ends at "/" though not a valid ``host:port`` (``user:pa/ss@host``),
    or ends at "?" or "#" after a ":" (``admin:12?pw@host``, ``admin:?pw@host``: a port to
    urlparse), and an "@" follows, the password held an unencoded "/", "?" or "#": all up to
    the last "@" before the host's end goes, as which "@" ends the password cannot be told.
    After a port, "?" or "#" and then "=" or "&" before the "@" is a query's (``host:8080?to=a@b``):
    left as it is, so a password holding "?" then "=" is not hidden there.
    """
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        return rest[authority.rindex("@") + 1:]
    after = rest[len(authority):]
    # No user name starts with "[": an IPv6 host does ("[::1]:8080?to=a@b" is no password).
    if "@" in after and (not _HOST_PORT.fullmatch(authority)
                         or (":" in authority and after[0] in "?#" and not authority.startswith("[")
                             # "?to=x@b.com", "?file=a@2x.mp4": a query's, not a password's "@"
                             and not re.search(r"[=&]", after[:after.index("@")]))):
        first = after.index("@")
        host_end = re.search(r"[/?#]", after[first:])
        return after[after.rindex("@", 0, first + host_end.start() if host_end else len(after)) + 1:]
    return rest


def ref_for_log(image_ref: str) -> str:
    """``image_ref`` for a log line: a URL without what signs it (``url_without_credentials``),
    so a local file's ``?d=`` still says which file; a path or data: URI cut short.

    >>> ref_for_log("https://bucket.s3.amazonaws.com/f0.png?X-Amz-Signature=abc")
    'https://bucket.s3.amazonaws.com/f0.png'
    """
    return (url_without_credentials(image_ref) if "://" in image_ref[:16] else image_ref)[:200]


def server_url_for_messages(url: str) -> str:
    """The address of a server (Label Studio, the ML backend) for a banner, ready.json or a log
    line: its ``user:password@`` written ``***@``, so that a reader sees credentials are in use
    without reading them; the rest (path, a ``?task=`` to open) stays.

    >>> server_url_for_messages("http://admin:s3cret@ls.example:8080/projects/1/data?task=5")
    'http://***@ls.example:8080/projects/1/data?task=5'

    A password holding an unencoded "/", "?" or "#" ends the host part early: whatever runs
    up to the URL's last "@" is hidden then, as which "@" ends the password cannot be told.
    ``admin:12/pw@ls`` reads as the host ``admin``, port 12, and a path with an "@": where the
    host part has a ":" and an "@" follows, it is hidden too. A server's address rarely has an
    "@" in its path, and ``ls:8080/a@2x.png`` cannot be told from that password.

    >>> server_url_for_messages("http://admin:s3/cr?et@ls.example:8080")
    'http://***@ls.example:8080'
    >>> server_url_for_messages("http://admin:12/s3cret@ls.example:8080")
    'http://***@ls.example:8080'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        rest = "***@" + rest[authority.rindex("@") + 1:]
    elif "@" in rest and (":" in authority or not _HOST_PORT.fullmatch(authority)) \
            and not re.fullmatch(r"\[[^\]]*\](:\d*)?", authority) \
            and not (_HOST_PORT.fullmatch(authority) and re.match(r"[?#][^@]*[=&]", rest[len(authority):])):
        # "user:pa" and then "/ss@host" (or "/ss@" after a port-like "12"). No user name
        # starts with "[": an IPv6 host is one; nor does "?next=a@b" after a port end a password.
        rest = "***@" + rest[rest.rindex("@") + 1:]
    return f"{scheme}{sep}{rest}"


# A password shorter than this is hidden only in its ``user:pw@``: "1" or "a" alone is in too
# many numbers and words to hide there. A longer one is hidden alone only apart from letters and
# digits, else 'Invalid pk "1234"' read '"***234"', and a redirect's address named as where to
# go ("http://***.example:8080/" for the password "ls") sent a reader nowhere.
_SHORTEST_HIDDEN_ALONE = 4


def text_without_url_password(text: str, url: str) -> str:
    """``text`` (a server's error body, an exception's words) with the password of ``url``
    hidden: Label Studio's refusal of an ML backend quotes the backend's address as it was
    given. ``user:password@`` reads ``***@`` wherever it is, as ``server_url_for_messages``
    writes it; the password alone, as given or percent-decoded, reads ``***`` where no letter
    or digit is beside it and it has 4 characters or more (a server may quote it apart from
    the URL). A ``user@`` with no password is hidden whole: it is a token.

    >>> text_without_url_password("Can't connect to ML backend http://bu:s3cret@ml:9090/",
    ...                           "http://bu:s3cret@ml:9090")
    "Can't connect to ML backend http://***@ml:9090/"
    """
    shown = server_url_for_messages(url)
    if shown == url:
        return text
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    # What server_url_for_messages hid: all of ``rest`` up to the "@" before what it kept.
    kept = shown[len(scheme) + len(sep) + len("***@"):]
    userinfo = rest[:len(rest) - len(kept) - 1]
    if not userinfo:
        return text
    user, colon, password = userinfo.partition(":")
    secret = password if colon else user
    text = text.replace(f"{userinfo}@", "***@")
    for form in sorted({secret, unquote(secret)}, key=len, reverse=True):
        if len(form) >= _SHORTEST_HIDDEN_ALONE:
            text = re.sub(rf"(?<![^\W_]){re.escape(form)}(?![^\W_])", "***", text)
    return text
