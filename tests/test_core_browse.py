"""ModelIndex.view: the narrowing shortcuts (previous answer, recent answers) never change the
answer: it always equals a plain filter of the sorted rows."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tui.core.catalogue import load_catalogue
from tui.core.catalogue.browse import COLUMN_IDS, ModelIndex, Sort

CATALOGUE = load_catalogue()
GROUPS = [None, *(group.id for group in CATALOGUE.groups)]

# One step of a user: type a character, delete one, clear, pick a group or a sort.
steps = st.one_of(
    st.tuples(st.just("type"), st.sampled_from(list("qwen-yi7b13 chatlama"))),
    st.tuples(st.just("delete"), st.none()),
    st.tuples(st.just("clear"), st.none()),
    st.tuples(st.just("group"), st.sampled_from(GROUPS)),
    st.tuples(st.just("sort"), st.tuples(st.sampled_from(COLUMN_IDS), st.booleans())),
)


def plain_view(index: ModelIndex, query: str, group: str | None, sort: Sort) -> list[str]:
    terms = query.lower().split()
    return [
        row.id
        for row in index.ordered(sort)
        if (group is None or row.model.group == group) and all(t in row.search for t in terms)
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(steps, max_size=40))
def test_view_while_typing_equals_a_plain_filter(actions):
    index = ModelIndex(CATALOGUE)
    query, group, sort = "", None, Sort()
    for action, value in actions:
        if action == "type":
            query += value
        elif action == "delete":
            query = query[:-1]
        elif action == "clear":
            query = ""
        elif action == "group":
            group = value
        else:
            sort = Sort(*value)
        assert [row.id for row in index.view(query, group, sort)] == plain_view(
            index, query, group, sort
        )


def test_a_term_typed_after_a_space_narrows_what_the_first_term_found():
    index = ModelIndex(CATALOGUE)
    qwen = [row.id for row in index.view("qwen")]
    both = [row.id for row in index.view("qwen 7b")]
    assert both and set(both) < set(qwen)
    assert all("7b" in row.search for row in index.view("qwen 7b"))
