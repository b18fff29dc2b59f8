//! `docs/pipeline-format.md` is generated from [`crate::schema`]; this test keeps it current.
//! `UPDATE_EXPECT=1 cargo test -p hir schema` rewrites it.

#[test]
fn schema_markdown_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/pipeline-format.md");
    expect_test::expect_file![path].assert_eq(&crate::schema::markdown());
}
