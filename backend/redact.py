"""Addresses said without what makes them credentials: a URL's ``user:password@`` and the
query parameters that sign it (a presigned S3, GCS or Azure link, a token, an API key), a
Redis URL's password (``redis_url_for_messages``).

Logs, messages, banners and exported files name images, videos and servers; none of them
may hand a reader the means to fetch what the URL grants (a presigned link's signature is
its credential), yet each must still say which file it means (Label Studio's ``?d=``).
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import SplitResult, parse_qs, quote_plus, unquote, unquote_plus, urlsplit


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
    """``rest``, a URL after its ``scheme://``, without its ``user:password@`` (``_userinfo_end``).

    An "@" that clients read as a path's, after a valid ``host:port`` and "/", stays: the URL
    must still say which file it means, and a password holding that "/" fails to fetch there.
    """
    userinfo = _userinfo_end(rest)
    return rest if userinfo is None or userinfo.path_as_read else rest[userinfo.at + 1:]


class _Userinfo(NamedTuple):
    """Where a URL's ``user:password@`` ends: ``at``, the index of its "@" in what follows
    ``scheme://``. ``path_as_read``: that "@" follows a valid ``host:port`` and "/", which
    every client reads as the path's (``ls:8080/a@2x.png``), and only a password holding an
    unencoded "/" (``admin:12/pw@ls``) would make it the password's."""

    at: int
    path_as_read: bool


def _userinfo_end(rest: str) -> _Userinfo | None:
    """Where the ``user:password@`` of ``rest`` (a URL after its ``scheme://``) ends, None
    where it has none.

    Where the host part ends at "/" though not a valid ``host:port`` (``user:pa/ss@host``), or
    ends at "?" or "#" after a ":" (``admin:12?pw@host``, ``admin:?pw@host``: a port to
    urlparse), and an "@" follows, the password held an unencoded "/", "?" or "#": it ends at
    the last "@" before the host's end (the first "/", "?" or "#" after an "@"), as which "@"
    ends the password cannot be told, and a host holds none (``p/w@x/y@host`` then keeps
    ``x/y@host``: a password's "/" after its "@" cannot be told from ``host/a@2x.png``, which
    a URL must still name; a message hides more, see ``server_url_for_messages``). After a port, "?" or "#" and then
    "=" or "&" before the "@" is a query's (``host:8080?to=a@b``), and no user name starts
    with "[" (``[::1]:8080?to=a@b``): no password.

    >>> _userinfo_end("u:pw@ls:8080/x"), _userinfo_end("u:p/w@ls/a@2x.png"), _userinfo_end("ls/a@2x.png")
    (_Userinfo(at=4, path_as_read=False), _Userinfo(at=5, path_as_read=False), None)
    >>> _userinfo_end("ls:8080/a@2x.png")
    _Userinfo(at=9, path_as_read=True)
    """
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        return _Userinfo(authority.rindex("@"), path_as_read=False)
    after = rest[len(authority):]
    if "@" not in after:
        return None
    host_port = _HOST_PORT.fullmatch(authority) is not None
    if host_port and (":" not in authority or authority.startswith("[")
                      # "?to=x@b.com", "?file=a@2x.mp4": a query's, not a password's "@"
                      or (after[0] in "?#" and re.search(r"[=&]", after[:after.index("@")]))):
        return None
    first = len(authority) + after.index("@")
    host_end = re.search(r"[/?#]", rest[first:])
    at = rest.rindex("@", 0, first + host_end.start() if host_end else len(rest))
    return _Userinfo(at, path_as_read=host_port and after[0] == "/")


def url_without_userinfo(url: str) -> str:
    """``url`` (one ``studio_url_problem`` took) to call: without its ``user:password@``, which
    httpx and requests would send as Basic auth in place of the ``Authorization: Token``
    header a request to Label Studio carries. Read as those clients read it (``urlsplit``).

    >>> url_without_userinfo("https://proxy:pw@ls.example:8443/ls")
    'https://ls.example:8443/ls'
    """
    parts = urlsplit(url)
    # Rebuilt from the parts, not cut from ``url``: urlsplit drops tabs and line breaks,
    # and a netloc's length then cut "http://u\t@ls:8080/x" to "http://ls:80800/x".
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


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

    A password holding an unencoded "/", "?" or "#" ends the host part early, and which "@"
    ends it is then a guess (``_userinfo_end``): all up to the URL's last "@" is hidden, as a
    message may hide too much but never a part of a password (``pa/ss@wo?rd@ls`` showed
    ``wo?rd``); so it is wherever an "@" follows the userinfo's. ``url_without_credentials`` keeps more there: a file's URL must still say
    which file. ``admin:12/pw@ls`` reads as the host ``admin``, port 12, and a path with an
    "@": it is hidden too. A server's address rarely has an "@" in its path, and
    ``ls:8080/a@2x.png`` (``http://***@2x.png``) cannot be told from that password.

    >>> server_url_for_messages("http://admin:s3/cr?et@ls.example:8080")
    'http://***@ls.example:8080'
    >>> server_url_for_messages("http://admin:12/s3cret@ls.example:8080")
    'http://***@ls.example:8080'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    userinfo = _userinfo_end(rest)
    if userinfo is not None:
        # Up to the URL's last "@", wherever the password seemed to end: an "@" in a user
        # name (``me@corp.com:pa/ss@ls``) or a password (``admin:p@a/ss@ls``) before a "/"
        # made "corp.com:pa/ss" and "a/ss" read as a host and its path.
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


# A Redis URL answers where its password ends with what redis-py makes of it, not with
# _userinfo_end: its path is a database number and its query redis-py's options, so an "@"
# there (``/0@x``, ``?db=1@h``) can only end a password, while one in an option's value
# (``?client_name=me@box``) never does; a unix socket's path may hold one.
def redis_url_for_messages(url: str) -> str:
    """``url`` without its password, for logs and messages (REDIS_URL often carries one).

    >>> redis_url_for_messages("rediss://:pw@redis.example:6380/0")
    'rediss://:***@redis.example:6380/0'
    >>> redis_url_for_messages("rediss://default:Xk9/aB3+q=@cache.example.net:6380/0")
    'rediss://default:***@cache.example.net:6380/0'

    A user with no password (``redis://s3cret@host``) is most often a password written
    without its ":": redis-py sends it as the user name of ``AUTH s3cret ""``. It is hidden too:

    >>> redis_url_for_messages("redis://s3cret@host:6379/0")
    'redis://***@host:6379/0'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        # Unsplittable (an unclosed "["): shown whole only where no password can be in it.
        return "(a malformed REDIS_URL)" if "@" in url or "password" in unquote(url).lower() else \
            _query_values_hidden(url)
    at = _hidden_up_to(url)
    if at is not None and at > url.find("?") and "password" in unquote(url.partition("?")[2]).lower():
        # The "@" hidden up to may be inside a ?password= (in the fragment where the password
        # before the host holds a "#"): nothing after the scheme is shown.
        return f"{parts.scheme}://***"
    if at is not None:  # the URL's host part ended inside the password: hide up to its "@"
        scheme, _, userinfo = url[:at].partition("://")
        url = f"{scheme}://{userinfo.split(':', 1)[0] if ':' in userinfo else ''}:***{url[at:]}"
        parts = urlsplit(url)
    elif parts.password is not None:
        url = url.replace(parts.netloc, f"{parts.username or ''}:***@{parts.netloc.rpartition('@')[2]}", 1)
    elif parts.username:
        url = url.replace(parts.netloc, f"***@{parts.netloc.rpartition('@')[2]}", 1)
    # redis-py takes ?password= too (its key percent-decoded: ?pass%77ord= is one).
    if _names_password(parts.query):
        url = url.split("?", 1)[0] + "?***"
    # Only redis-py's known options show their values: a misspelt key (?passwd=) may hold a password.
    return _query_values_hidden(url)


def _names_password(query: str) -> bool:
    """Whether a URL's query gives a password (redis-py percent-decodes its keys)."""
    return any("password" in key.lower() for key in parse_qs(query, keep_blank_values=True))


def redis_broken_password_at(url: str) -> int | None:
    """Where the "@" that ends a password holding an unencoded "/", "?" or "#" is in ``url``
    (base64 access keys hold "/"), None for a URL without one. Such a password ends the URL's
    host part early: what follows reads as a path, a query key or a fragment holding an "@",
    or what is left as the host part reads as no ``host[:port]`` (``user:S3cr?et=1@host``);
    in a unix socket URL, whose host part is nothing or ``user:password@``, it holds more.
    An "@" in a query value (``?password=S3cr@et``, ``?client_name=me@box``) after a
    host part that reads as one is no such end. The last "@" is taken: a message may hide
    too much, never a part of the password."""
    parts, after = _split_at_host(url)
    if parts is None or "@" not in after:
        return None
    netloc = parts.netloc
    if parts.scheme == "unix":  # the socket's path may hold an "@"
        broken = ":" in netloc and not netloc.endswith("@")
    else:
        keys = "".join(pair.partition("=")[0] for pair in parts.query.split("&"))
        # A database number never holds an "@" (``user:77?db=1@host``: a password's end).
        numbers = "".join(parse_qs(parts.query).get("db", []))
        broken = "@" in parts.path + keys + parts.fragment + numbers or (
            bool(netloc) and "@" not in netloc and not _reads_as_host(parts))
    return url.rindex("@") if broken else None


def _hidden_up_to(url: str) -> int | None:
    """Where a message showing ``url`` stops hiding: the end of a password holding an
    unencoded character (``redis_broken_password_at``), or, where a password comes before the
    host part and an "@" after it (``:p@ss?client_name=y@host``), the last "@": which one
    ends the password cannot be told, and a message must not guess."""
    at = redis_broken_password_at(url)
    if at is not None:
        return at
    parts, after = _split_at_host(url)
    if parts is None or "@" not in after:
        return None
    return url.rindex("@") if ":" in parts.netloc.rpartition("@")[0] else None


def _split_at_host(url: str) -> tuple[SplitResult | None, str]:
    """``url`` split, and what follows its host part ("" where it has none)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None, ""
    start = url.find("://") + 3
    return (parts, url[start + len(parts.netloc):]) if start >= 3 else (None, "")


def _reads_as_host(parts: SplitResult) -> bool:
    """Whether a URL's host part is a host with a port or none, as a client connects to
    (``:6379`` is this machine's port 6379, as redis-py reads it)."""
    try:
        _ = parts.port
    except ValueError:
        return False
    return bool(parts.hostname) or parts.netloc.startswith(":")


# redis-py's URL options that hold no secret: shown in messages (a worker's ?db= on a unix
# socket is how a user sees it serves another database than the backend).
_SHOWN_OPTIONS = frozenset({
    "db", "protocol", "client_name", "decode_responses", "encoding", "encoding_errors", "health_check_interval",
    "max_connections", "retry_on_timeout", "socket_connect_timeout", "socket_keepalive", "socket_timeout",
    "timeout", "ssl_ca_certs", "ssl_cert_reqs", "ssl_check_hostname", "ssl_min_version", "ssl_validate_ocsp",
})


def _query_values_hidden(shown: str) -> str:
    """``shown`` (a URL for messages) with the values of its query's other keys hidden: a
    misspelt key (``?passwd=``) may hold a password."""
    base, sep, query = shown.partition("?")
    if not sep or query == "***":
        return shown
    pairs = [pair.partition("=") for pair in query.split("&")]
    return f"{base}?" + "&".join(key + eq + (value if unquote(key) in _SHOWN_OPTIONS else "***")
                                 for key, eq, value in pairs)
