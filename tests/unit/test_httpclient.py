"""The origins a platform client may reach: the configured URL's own and the official hosts."""

from gospublic.httpclient import allowed_origins, format_origin, origin_of


def test_the_configured_origin_and_the_official_hosts_over_https_only():
    allowed = allowed_origins("tg", "http://127.0.0.1:8081/")
    assert origin_of("http://127.0.0.1:8081/s/durov") in allowed
    assert origin_of("https://t.me/durov") in allowed
    assert origin_of("https://TELEGRAM.me:443/x") in allowed
    for elsewhere in (
        "http://127.0.0.1:8082/latest/meta-data/",  # same host, another port
        "https://127.0.0.1:8081/",  # same host and port, another scheme
        "http://t.me/durov",  # an official host, but downgraded to plain HTTP
        "https://t.me.evil.example/",
        "http://169.254.169.254/latest/meta-data/",
        "https://api.vk.com/method",  # another platform's host
    ):
        assert origin_of(elsewhere) not in allowed, elsewhere


def test_an_origin_is_shown_without_its_path_or_default_port():
    assert (
        format_origin(origin_of("https://api.vk.com/method?access_token=x")) == "https://api.vk.com"
    )
    assert format_origin(origin_of("http://127.0.0.1:9/x")) == "http://127.0.0.1:9"
