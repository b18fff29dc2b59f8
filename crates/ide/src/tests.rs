//! Fixtures with a cursor: a pipeline's text (or `//- /path` files, as in `hir`'s tests)
//! with `$0` where the cursor is. Files listed are "on disk": the fixture's paths are set
//! on the database as the driver would set them.

use hir::{RootDatabase, SourceFile};

mod completion;
mod hover;
mod lens;
mod nav;
mod symbols;

/// A loaded fixture.
pub(crate) struct Fx {
    pub(crate) db: RootDatabase,
    pub(crate) file: SourceFile,
    pub(crate) offset: u32,
}

pub(crate) fn load(fixture: &str) -> Fx {
    let hir::fixture::Fixture { pipeline, files } = hir::fixture::fixture(fixture);
    let offset = pipeline.find("$0").unwrap_or(0) as u32;
    let pipeline = pipeline.replacen("$0", "", 1);
    let mut db = RootDatabase::default();
    let file = SourceFile::new(&db, "pipeline.toml".to_owned(), pipeline, Vec::new());
    if let Some(files) = files {
        hir::fixture::sync_files(&mut db, file, &files);
    }
    Fx { db, file, offset }
}

impl Fx {
    pub(crate) fn text(&self) -> &str {
        self.file.text(&self.db)
    }

    /// `text` with `span` marked as `«…»`.
    pub(crate) fn mark(&self, spans: &[syntax::Span]) -> String {
        let mut text = self.text().to_owned();
        let mut spans = spans.to_vec();
        spans.sort_by_key(|s| std::cmp::Reverse(s.start));
        for s in spans {
            text.insert(s.end as usize, '»');
            text.insert(s.start as usize, '«');
        }
        text
    }
}

/// The small pipeline most tests use.
pub(crate) const DIGITS: &str = r#"
//- /pipeline.toml
[parameters]
seed = 42
lr = { default = 0.5, description = "learning rate" }

[environments.sklearn]
requirements = "requirements.txt"

[data.digits]
path = "raw/digits.csv"

[steps.prepare]
script = "prepare.py"
source_directory = "src"
environment = "sklearn"
arguments = ["--raw", "${inputs.raw}", "--out", "${outputs.split}", "--seed", "${params.seed}"]
inputs = { raw = "data.digits" }
outputs = ["split"]

[steps.train]
script = "train.py"
source_directory = "src"
arguments = ["--data", "${inputs.data}", "--model", "${outputs.model}", "--lr=${params.lr}"]
inputs = { data = "steps.prepare.outputs.split" }
outputs = ["model"]
hash_paths = ["common/"]
//- /requirements.txt
scikit-learn
//- /raw/digits.csv
1,2
//- /src/prepare.py
//- /src/train.py
//- /src/common/util.py
"#;

/// [`DIGITS`] with `$0` put before the `n`th occurrence (0-based) of `needle`.
pub(crate) fn digits_at(needle: &str, n: usize) -> String {
    let at = DIGITS.match_indices(needle).nth(n).expect("needle in DIGITS").0;
    format!("{}$0{}", &DIGITS[..at], &DIGITS[at..])
}
