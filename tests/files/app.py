"""The app the file storage tests serve: uploads, metadata, URLs, actions that store and read."""

FILES_APP = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema(
            {"docs": define_table({"name": v.string(), "file": v.id("_storage")})}
        )
    """,
    "files.py": """
        from livebase import action, mutation, query, v


        @mutation
        def upload_url(ctx) -> str:
            return ctx.storage.generate_upload_url()


        @mutation(args={"name": v.string(), "file": v.id("_storage")})
        def save(ctx, name, file):
            return ctx.db.insert("docs", {"name": name, "file": file})


        @query
        def docs(ctx) -> list:
            out = []
            for doc in ctx.db.query("docs").collect():
                out.append({"name": doc["name"], "url": ctx.storage.get_url(doc["file"])})
            return out


        @query(args={"id": v.id("_storage")})
        def url(ctx, id):
            return ctx.storage.get_url(id)


        @query(args={"id": v.id("_storage")})
        def meta(ctx, id):
            return ctx.storage.get_metadata(id)


        @query
        def stored(ctx) -> list:
            return ctx.db.system.query("_storage").collect()


        @mutation(args={"id": v.id("_storage")})
        def remove(ctx, id):
            ctx.storage.delete(id)


        @mutation(args={"name": v.string(), "file": v.id("_storage")})
        def write_system(ctx, name, file):
            ctx.db.delete(file)


        @action(args={"text": v.string()})
        def store_text(ctx, text):
            chunks = (part.encode() for part in [text[:3], text[3:]])
            storage_id = ctx.storage.store(chunks, content_type="text/plain")
            return {"id": storage_id, "url": ctx.storage.get_url(storage_id)}


        @action(args={"id": v.id("_storage")})
        def read_text(ctx, id):
            data = ctx.storage.get(id)
            return None if data is None else data.decode()


        @action(args={"text": v.string()})
        async def store_async(ctx, text):
            storage_id = await ctx.storage.store(text.encode())
            data = await ctx.storage.get(storage_id)
            meta = await ctx.storage.get_metadata(storage_id)
            await ctx.storage.delete(storage_id)
            gone = await ctx.storage.get(storage_id)
            return {"data": data.decode(), "size": meta["size"], "gone": gone is None}
    """,
}
