import pytest

from alerts.core.taxonomy import Taxonomy, TaxonomyError, countries, load_topics, regions


def test_countries_are_iso_3166_alpha_2() -> None:
    names = countries()
    assert names["MX"] == "Mexico"
    assert len(names) >= 249
    assert all(len(code) == 2 and code.isupper() for code in names)


def test_regions_expand_to_their_countries() -> None:
    taxonomy = Taxonomy()
    americas = taxonomy.country_codes(["americas"])
    assert {"MX", "US", "BR", "CA"} <= americas
    assert "FR" not in americas
    assert taxonomy.country_codes(["mx", "FR"]) == {"MX", "FR"}
    # Every region lists only real country codes.
    assert all(set(members) <= countries().keys() for _, members in regions().values())


def test_unknown_codes_are_named() -> None:
    taxonomy = Taxonomy()
    with pytest.raises(TaxonomyError, match="unknown country or region: XX, atlantis"):
        taxonomy.country_codes(["MX", "XX", "atlantis"])
    with pytest.raises(TaxonomyError, match="unknown country: europe"):
        taxonomy.item_countries(["europe"])
    with pytest.raises(TaxonomyError, match="unknown topic: cooking"):
        taxonomy.topic_codes(["asylum", "cooking"])


def test_topic_vocabulary_is_configurable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "topics.txt"
    path.write_text("# ours\nelections,Elections\npress-freedom,Press freedom\n")
    taxonomy = Taxonomy(topics=load_topics(path))
    assert taxonomy.topic_codes(["elections"]) == {"elections"}
    with pytest.raises(TaxonomyError):
        taxonomy.topic_codes(["asylum"])
    path.write_text("bad code!,x\n")
    with pytest.raises(TaxonomyError, match="bad topic code"):
        load_topics(path)
