from wordcount_service.counting import count_words, top


def test_counts_words_case_insensitively():
    assert count_words("The cat and the hat")["the"] == 2


def test_top_breaks_ties_alphabetically():
    assert top("b a c b a", n=2) == [("a", 2), ("b", 2)]


def test_empty_text_has_no_words():
    assert top("") == []
