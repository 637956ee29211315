import pytest

from hello_service.app import respond
from hello_service.greeting import greet


def test_greets_by_name():
    assert greet("Ada") == "Hello, Ada!"


def test_greets_the_world_when_nobody_is_named():
    assert greet("  ") == "Hello, world!"


def test_speaks_chinese():
    assert greet("小明", language="zh") == "你好，小明！"


def test_refuses_unknown_languages():
    with pytest.raises(ValueError):
        greet("Ada", language="xx")


def test_http_answers():
    assert respond("/hello?name=Ada") == (200, {"message": "Hello, Ada!"})
    assert respond("/hello?lang=xx")[0] == 400
    assert respond("/healthz") == (200, {"status": "ok"})
    assert respond("/nope")[0] == 404
