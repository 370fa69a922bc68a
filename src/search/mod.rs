//! Typo-tolerant customer search: one tantivy index for every tenant, each document carrying
//! its tenant, every query filtered by it. The operator console searches customers here and
//! identity resolution matches an unknown caller's name, street and zip against it.
//!
//! Search runs in two steps. The index gathers up to [`CANDIDATES`] candidates with exact,
//! prefix and fuzzy (Levenshtein, transpositions cost one) term queries over names, street,
//! city and email, exact digit terms over zip, street numbers and phone suffixes; each query
//! word counts once, for its best field, so documents matching more words come first. The
//! term queries only list documents: their sums are added up in one score array per segment
//! (`SearchIndex::retrieve`), because a tree of tantivy scorers over the common words of a
//! million customers costs several times more. Then the `rank` module re-scores every
//! candidate by edit distance with field weights and bonuses, because tantivy scores all
//! fuzzy matches alike.
//!
//! Writes (`upsert`, `upsert_many`, `remove`) are staged and become visible at the next
//! `commit` — which `search` runs itself when writes are pending — so a caller that upserts
//! after every customer write always finds its own writes. The index is derived data:
//! `rebuild` reloads a tenant from the store and is safe to run while writes continue.
//!
//! `search` and the writes are synchronous and CPU-bound (a few milliseconds at a million
//! customers, see BENCHMARKS.md); async callers with heavy traffic should run them on a
//! blocking thread. A rebuild reads the next pages from the store while it indexes one, and
//! the writer indexes on up to [`MAX_WRITER_THREADS`] threads.

pub mod bench;
mod rank;
mod text;

#[cfg(test)]
mod tests;

/// The bounded edit distance the index ranks with, also the language layer's spelling check.
pub(crate) use text::edit_distance;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use tantivy::collector::{Count, DocSetCollector};
use tantivy::directory::MmapDirectory;
use tantivy::indexer::LogMergePolicy;
use tantivy::query::{EnableScoring, FuzzyTermQuery, Query, TermQuery, Weight};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, INDEXED, STORED,
    STRING,
};
use tantivy::{
    DocAddress, DocId, DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher,
    TantivyDocument, Term, COLLECT_BLOCK_BUFFER_LEN,
};

use crate::domain::{CustomerId, TenantId};
use crate::store::{CustomerDoc, Store, StoreError};

use rank::{CandidateFields, ParsedQuery, QueryWord};
use text::{digits, max_typos, phone_suffixes, street_words, words};

/// How many candidates the index hands to the re-ranker (more when a caller asks for more).
pub const CANDIDATES: usize = 200;
/// The most hits one search returns.
pub const MAX_LIMIT: usize = 1000;
/// Customers read from the store per page during a rebuild.
const REBUILD_PAGE: i64 = 2000;
/// Segments of one size merged together once this many exist.
const MERGE_AT_SEGMENTS: usize = 3;
/// Indexing memory per writer thread.
const WRITER_HEAP_PER_THREAD: usize = 48 * 1024 * 1024;
/// At most this many indexing threads (one per core below that).
pub const MAX_WRITER_THREADS: usize = 4;

/// Errors of the search index. All are internal: the API maps them to a generic 500.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index directory: {0}")]
    Directory(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("search index io: {0}")]
    Io(#[from] std::io::Error),
    #[error("reading customers: {0}")]
    Store(#[from] StoreError),
    #[error("a rebuild of tenant {0} is already running")]
    RebuildInProgress(TenantId),
    #[error("the rebuild of tenant {0} stopped reading the store before the end")]
    RebuildCut(TenantId),
}

/// One customer found, best first.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchHit {
    pub customer_id: CustomerId,
    pub score: f32,
    /// Which fields the query matched: `name`, `street`, `city`, `zip`, `phone`, `email`.
    pub matched: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    /// `tenant:customer`, the unit of replacement.
    key: Field,
    tenant: Field,
    customer: Field,
    name: Field,
    street: Field,
    city: Field,
    zip: Field,
    /// Every phone suffix from the last four digits up (indexed only).
    phone_suffix: Field,
    /// Phone digits (stored only).
    phone: Field,
    /// Words of the email addresses.
    email_words: Field,
    /// Whole email addresses, lowercased (stored only).
    email: Field,
    /// Every word of name, streets, cities and emails (indexed only): where prefixes and
    /// typos are looked up.
    words: Field,
}

impl Fields {
    fn schema() -> (Schema, Fields) {
        // Text arrives already normalised by `text`, so splitting on spaces is all tantivy
        // has to do; queries are constant-scored, so neither frequencies nor norms are kept.
        let indexing = TextFieldIndexing::default()
            .set_tokenizer("whitespace")
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false);
        let indexed = TextOptions::default().set_indexing_options(indexing);
        let indexed_stored = indexed.clone().set_stored();
        let mut b = Schema::builder();
        let fields = Fields {
            key: b.add_text_field("key", STRING),
            tenant: b.add_i64_field("tenant", INDEXED | STORED | FAST),
            customer: b.add_i64_field("customer", STORED | FAST),
            name: b.add_text_field("name", indexed_stored.clone()),
            street: b.add_text_field("street", indexed_stored.clone()),
            city: b.add_text_field("city", indexed_stored.clone()),
            zip: b.add_text_field("zip", indexed_stored.clone()),
            phone_suffix: b.add_text_field("phone_suffix", indexed.clone()),
            phone: b.add_text_field("phone", STORED),
            email_words: b.add_text_field("email_words", indexed_stored.clone()),
            email: b.add_text_field("email", STORED),
            words: b.add_text_field("words", indexed),
        };
        (b.build(), fields)
    }
}

/// A retrieved document's rank: its score's bits (scores are never negative, so the bits
/// order like the scores), then its address reversed (earlier documents win ties).
type Ranked = (u32, Reverse<(u32, DocId)>);

fn key(tenant: TenantId, customer: CustomerId) -> String {
    format!("{}:{}", tenant.0, customer.0)
}

/// Lock a mutex even if a thread panicked while holding it: the guarded state (a tantivy
/// writer, a set of ids) stays consistent between calls, so carrying on is sound.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The tantivy writer and the keys added since the last commit.
struct Writer {
    tantivy: IndexWriter<TantivyDocument>,
    /// Lets an upsert skip the delete when the key is neither committed nor staged: each
    /// delete is held as a query until the next commit (hundreds of bytes apiece), which
    /// would double the memory of a bulk load.
    staged: HashSet<String>,
}

/// The customer search index. `Send + Sync`; share it behind an `Arc`.
pub struct SearchIndex {
    reader: IndexReader,
    fields: Fields,
    writer: Mutex<Writer>,
    /// Writes staged since the last commit. Set and cleared with the writer lock held.
    dirty: AtomicBool,
    /// Tenants being rebuilt, with the customers written or removed meanwhile: those are
    /// newer than anything the rebuild read, so the rebuild leaves them alone.
    rebuilding: Mutex<HashMap<TenantId, HashSet<CustomerId>>>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("docs", &self.reader.searcher().num_docs())
            .finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// An empty index held in memory (the default: it is rebuilt from the store at start).
    pub fn new_in_ram() -> Result<Self, SearchError> {
        let (schema, fields) = Fields::schema();
        Self::from_index(Index::create_in_ram(schema), fields)
    }

    /// An index in a directory on disk, created if missing, reopened if present. An index
    /// written by a different schema is refused; delete the directory and rebuild.
    pub fn open_in_dir(dir: &Path) -> Result<Self, SearchError> {
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = Fields::schema();
        let index = Index::open_or_create(MmapDirectory::open(dir)?, schema)?;
        Self::from_index(index, fields)
    }

    fn from_index(index: Index, fields: Fields) -> Result<Self, SearchError> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, MAX_WRITER_THREADS);
        let writer: IndexWriter<TantivyDocument> =
            index.writer_with_num_threads(threads, threads * WRITER_HEAP_PER_THREAD)?;
        // Every fuzzy lookup walks each segment's term dictionary, so latency grows with
        // the segment count: merge as soon as a few segments of a size have piled up (the
        // default waits for eight), and rewrite segments that are half deleted.
        let mut policy = LogMergePolicy::default();
        policy.set_min_num_segments(MERGE_AT_SEGMENTS);
        policy.set_del_docs_ratio_before_merge(0.5);
        writer.set_merge_policy(Box::new(policy));
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SearchIndex {
            reader,
            fields,
            writer: Mutex::new(Writer {
                tantivy: writer,
                staged: HashSet::new(),
            }),
            dirty: AtomicBool::new(false),
            rebuilding: Mutex::new(HashMap::new()),
        })
    }

    fn document(&self, tenant: TenantId, c: &CustomerDoc) -> TantivyDocument {
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.key, key(tenant, c.id));
        doc.add_i64(f.tenant, tenant.0);
        doc.add_i64(f.customer, c.id.0);
        let name = words(&c.name).join(" ");
        doc.add_text(f.words, &name);
        doc.add_text(f.name, name);
        for (street, city, zip) in &c.addresses {
            let street = street_words(street).join(" ");
            let city = words(city).join(" ");
            doc.add_text(f.words, &street);
            doc.add_text(f.words, &city);
            doc.add_text(f.street, street);
            doc.add_text(f.city, city);
            doc.add_text(f.zip, words(zip).join(" "));
        }
        for phone in &c.phones {
            let d = digits(phone);
            if d.is_empty() {
                continue;
            }
            doc.add_text(f.phone_suffix, phone_suffixes(&d).join(" "));
            doc.add_text(f.phone, d);
        }
        for email in &c.emails {
            let email_words = words(email).join(" ");
            doc.add_text(f.words, &email_words);
            doc.add_text(f.email_words, email_words);
            doc.add_text(f.email, email.trim().to_lowercase());
        }
        doc
    }

    /// Note, with the writer lock held, that a customer changed while its tenant is being
    /// rebuilt.
    fn touch(&self, tenant: TenantId, ids: impl IntoIterator<Item = CustomerId>) {
        let mut rebuilding = lock(&self.rebuilding);
        if let Some(touched) = rebuilding.get_mut(&tenant) {
            touched.extend(ids);
        }
    }

    /// Add or replace one customer. Visible to the next search.
    pub fn upsert(&self, tenant: TenantId, customer: &CustomerDoc) -> Result<(), SearchError> {
        self.upsert_many(tenant, std::slice::from_ref(customer))
            .map(|_| ())
    }

    /// Add or replace many customers; returns how many. Visible to the next search.
    pub fn upsert_many(
        &self,
        tenant: TenantId,
        customers: &[CustomerDoc],
    ) -> Result<usize, SearchError> {
        if customers.is_empty() {
            return Ok(0);
        }
        let mut writer = lock(&self.writer);
        let searcher = self.reader.searcher();
        for c in customers {
            self.stage(&mut writer, &searcher, tenant, c)?;
        }
        self.dirty.store(true, Ordering::Release);
        self.touch(tenant, customers.iter().map(|c| c.id));
        Ok(customers.len())
    }

    /// Stage one upsert with the writer lock held. `searcher` shows the last commit (commits
    /// reload the reader under the same lock), so a key absent from it and from `staged`
    /// has nothing to replace.
    fn stage(
        &self,
        writer: &mut Writer,
        searcher: &Searcher,
        tenant: TenantId,
        c: &CustomerDoc,
    ) -> Result<(), SearchError> {
        let k = key(tenant, c.id);
        let term = Term::from_field_text(self.fields.key, &k);
        if writer.staged.contains(&k) || searcher.doc_freq(&term)? > 0 {
            writer.tantivy.delete_term(term);
        }
        writer.tantivy.add_document(self.document(tenant, c))?;
        writer.staged.insert(k);
        Ok(())
    }

    /// Remove a customer (a no-op for one not indexed). Visible to the next search.
    pub fn remove(&self, tenant: TenantId, customer: CustomerId) -> Result<(), SearchError> {
        let writer = lock(&self.writer);
        writer.tantivy.delete_term(Term::from_field_text(
            self.fields.key,
            &key(tenant, customer),
        ));
        self.dirty.store(true, Ordering::Release);
        self.touch(tenant, [customer]);
        Ok(())
    }

    /// Make staged writes visible (and durable, on disk). Cheap when nothing is staged;
    /// `search` calls it, so callers need it only to flush before shutdown or to time it.
    pub fn commit(&self) -> Result<(), SearchError> {
        if !self.dirty.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut writer = lock(&self.writer);
        if !self.dirty.load(Ordering::Acquire) {
            return Ok(());
        }
        writer.tantivy.commit()?;
        self.reader.reload()?;
        writer.staged = HashSet::new();
        self.dirty.store(false, Ordering::Release);
        Ok(())
    }

    /// Replace a tenant's documents with what the store holds, paging through it; returns
    /// how many customers the store had. Writes made while it runs win over what it read.
    pub async fn rebuild(&self, store: &Store, tenant: TenantId) -> Result<usize, SearchError> {
        let _guard = RebuildGuard::start(self, tenant)?;
        self.commit()?;
        let before = self.indexed_ids(tenant)?;
        let mut seen: HashSet<CustomerId> = HashSet::with_capacity(before.len());
        // The next pages are read while this one is indexed.
        let (pages_tx, mut pages) = tokio::sync::mpsc::channel(2);
        let reader = store.clone();
        tokio::spawn(async move {
            let mut after = CustomerId(0);
            loop {
                let page = reader.customer_docs(tenant, after, REBUILD_PAGE).await;
                let last = page.as_ref().ok().and_then(|p| p.last().map(|c| c.id));
                let done = last.is_none();
                if pages_tx.send(page).await.is_err() || done {
                    break;
                }
                after = last.unwrap_or(after);
            }
        });
        let mut finished = false;
        while let Some(page) = pages.recv().await {
            let page = page?;
            if page.is_empty() {
                finished = true;
                break;
            }
            let mut writer = lock(&self.writer);
            let searcher = self.reader.searcher();
            let rebuilding = lock(&self.rebuilding);
            let touched = rebuilding.get(&tenant);
            for c in &page {
                seen.insert(c.id);
                if !touched.is_some_and(|t| t.contains(&c.id)) {
                    self.stage(&mut writer, &searcher, tenant, c)?;
                }
            }
            self.dirty.store(true, Ordering::Release);
        }
        if !finished {
            // Without the last page nobody knows which documents are stale.
            return Err(SearchError::RebuildCut(tenant));
        }
        {
            let writer = lock(&self.writer);
            let rebuilding = lock(&self.rebuilding);
            let touched = rebuilding.get(&tenant);
            for id in before.difference(&seen) {
                if !touched.is_some_and(|t| t.contains(id)) {
                    writer
                        .tantivy
                        .delete_term(Term::from_field_text(self.fields.key, &key(tenant, *id)));
                }
            }
            self.dirty.store(true, Ordering::Release);
        }
        self.commit()?;
        Ok(seen.len())
    }

    /// The customers of a tenant currently visible in the index.
    fn indexed_ids(&self, tenant: TenantId) -> Result<HashSet<CustomerId>, SearchError> {
        let searcher = self.reader.searcher();
        let docs = searcher.search(&self.tenant_query(tenant), &DocSetCollector)?;
        let mut columns = Vec::with_capacity(searcher.segment_readers().len());
        for reader in searcher.segment_readers() {
            columns.push(reader.fast_fields().i64("customer")?);
        }
        Ok(docs
            .into_iter()
            .filter_map(|a| {
                let column = columns.get(a.segment_ord as usize)?;
                column.first(a.doc_id).map(CustomerId)
            })
            .collect())
    }

    fn tenant_query(&self, tenant: TenantId) -> TermQuery {
        TermQuery::new(
            Term::from_field_i64(self.fields.tenant, tenant.0),
            IndexRecordOption::Basic,
        )
    }

    /// How many customers of a tenant the index holds (after committing staged writes).
    pub fn count(&self, tenant: TenantId) -> Result<usize, SearchError> {
        self.commit()?;
        Ok(self
            .reader
            .searcher()
            .search(&self.tenant_query(tenant), &Count)?)
    }

    /// Bytes the index takes (in memory or on disk), all tenants.
    pub fn size_bytes(&self) -> Result<u64, SearchError> {
        Ok(self.reader.searcher().space_usage()?.total().get_bytes())
    }

    /// A tenant's customers matching `q`, best first, at most `limit` (capped at
    /// [`MAX_LIMIT`]). Any text is accepted: words are normalised and the query is built
    /// from terms, never parsed, so query syntax in `q` is just text. A query without a
    /// single usable word finds nothing.
    pub fn search(
        &self,
        tenant: TenantId,
        q: &str,
        limit: usize,
    ) -> Result<Vec<SearchHit>, SearchError> {
        let limit = limit.min(MAX_LIMIT);
        let parsed = ParsedQuery::parse(q);
        if limit == 0 || parsed.is_empty() {
            return Ok(Vec::new());
        }
        self.commit()?;
        let searcher = self.reader.searcher();
        let candidates = self.retrieve(&searcher, tenant, &parsed, CANDIDATES.max(limit))?;

        let mut best: HashMap<CustomerId, SearchHit> = HashMap::with_capacity(candidates.len());
        for address in candidates {
            let doc: TantivyDocument = searcher.doc(address)?;
            let Some((doc_tenant, id, fields)) = self.candidate(&doc) else {
                continue;
            };
            if doc_tenant != tenant {
                continue;
            }
            let scored = rank::score(&parsed, &fields);
            if scored.score <= 0.0 {
                continue;
            }
            let hit = SearchHit {
                customer_id: id,
                score: scored.score,
                matched: scored.matched.iter().map(|s| s.to_string()).collect(),
            };
            match best.get(&id) {
                Some(existing) if existing.score >= hit.score => {}
                _ => {
                    best.insert(id, hit);
                }
            }
        }
        let mut hits: Vec<SearchHit> = best.into_values().collect();
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.customer_id.cmp(&b.customer_id))
        });
        hits.truncate(limit);
        Ok(hits)
    }

    /// Candidate retrieval: the tenant's documents with the best sums, over the query's
    /// words, of each word's best way of matching (field weight × match kind), so documents
    /// matching more words come first; equal sums keep index order. Each word's ways are
    /// tried best first and a document counts only the first that reaches it, so every
    /// posting is read once into a per-segment score array, with no scorer tree.
    fn retrieve(
        &self,
        searcher: &Searcher,
        tenant: TenantId,
        q: &ParsedQuery,
        n: usize,
    ) -> Result<Vec<DocAddress>, SearchError> {
        let scoring = EnableScoring::disabled_from_searcher(searcher);
        let mut words: Vec<Vec<(Box<dyn Weight>, f32)>> = Vec::new();
        for w in &q.words {
            let mut ways = Vec::new();
            for (query, weight) in self.word_ways(w) {
                ways.push((query.weight(scoring)?, weight));
            }
            words.push(ways);
        }
        for run in &q.phone_runs {
            let term = Term::from_field_text(self.fields.phone_suffix, run);
            let query = TermQuery::new(term, IndexRecordOption::Basic);
            words.push(vec![(query.weight(scoring)?, 3.0)]);
        }
        // Smallest first, so the heap's top is the one to drop.
        let mut top: BinaryHeap<Reverse<Ranked>> = BinaryHeap::with_capacity(n + 1);
        let mut buffer = [0 as DocId; COLLECT_BLOCK_BUFFER_LEN];
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let ord = ord as u32;
            let max_doc = segment.max_doc();
            let mut scores = vec![0f32; max_doc as usize];
            let mut touched: Vec<DocId> = Vec::new();
            for ways in &words {
                // One bit per document: whether a better way of this word reached it.
                let mut reached = vec![0u64; (max_doc as usize).div_ceil(64)];
                for (weight, score) in ways {
                    let mut docs = weight.scorer(segment, 1.0)?;
                    loop {
                        let filled = docs.fill_buffer(&mut buffer);
                        for &doc in &buffer[..filled] {
                            let (word, bit) = (doc as usize / 64, 1u64 << (doc % 64));
                            if reached[word] & bit != 0 {
                                continue;
                            }
                            reached[word] |= bit;
                            let slot = &mut scores[doc as usize];
                            if *slot == 0.0 {
                                touched.push(doc);
                            }
                            *slot += score;
                        }
                        if filled < COLLECT_BLOCK_BUFFER_LEN {
                            break;
                        }
                    }
                }
            }
            let tenants = segment.fast_fields().i64("tenant")?;
            for doc in touched {
                let key = (scores[doc as usize].to_bits(), Reverse((ord, doc)));
                if top.len() == n && top.peek().is_some_and(|Reverse(min)| *min >= key) {
                    continue;
                }
                if segment.is_deleted(doc) || tenants.first(doc) != Some(tenant.0) {
                    continue;
                }
                top.push(Reverse(key));
                if top.len() > n {
                    top.pop();
                }
            }
        }
        let mut best: Vec<Ranked> = top.into_iter().map(|Reverse(k)| k).collect();
        best.sort_unstable_by(|a, b| b.cmp(a));
        Ok(best
            .into_iter()
            .map(|(_, Reverse((ord, doc)))| DocAddress::new(ord, doc))
            .collect())
    }

    /// The ways one query word can match, best first: exact terms per field, a prefix or a
    /// typo of any word, a zip or phone suffix for digits.
    fn word_ways(&self, w: &QueryWord) -> Vec<(Box<dyn Query>, f32)> {
        let f = &self.fields;
        let mut ways: Vec<(Box<dyn Query>, f32)> = Vec::new();
        let exact = |field: Field, text: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, text),
                IndexRecordOption::Basic,
            ))
        };
        ways.push((exact(f.name, &w.text), 3.0));
        ways.push((exact(f.street, &w.street), 2.0));
        ways.push((exact(f.city, &w.text), 1.0));
        ways.push((exact(f.email_words, &w.text), 1.5));
        // Prefixes and typos are looked up once, in the field holding every word: each
        // automaton costs a walk of the term dictionary, and the re-ranker weighs fields.
        if !w.has_digit {
            let term = Term::from_field_text(f.words, &w.text);
            if w.len >= 2 {
                ways.push((
                    Box::new(FuzzyTermQuery::new_prefix(term.clone(), 0, true)),
                    1.5,
                ));
            }
            let typos = max_typos(w.len);
            if typos > 0 {
                ways.push((Box::new(FuzzyTermQuery::new(term, typos, true)), 1.2));
            }
        }
        if w.numeric {
            ways.push((exact(f.zip, &w.text), 2.5));
            if w.text.len() >= text::MIN_PHONE_SUFFIX {
                ways.push((exact(f.phone_suffix, &w.text), 3.0));
            }
        }
        ways.sort_by(|a, b| b.1.total_cmp(&a.1));
        ways
    }

    fn candidate<'a>(
        &self,
        doc: &'a TantivyDocument,
    ) -> Option<(TenantId, CustomerId, CandidateFields<'a>)> {
        let f = &self.fields;
        let tenant = doc.get_first(f.tenant).and_then(|v| v.as_i64())?;
        let id = doc.get_first(f.customer).and_then(|v| v.as_i64())?;
        let values = |field: Field| doc.get_all(field).filter_map(|v| v.as_str());
        let split = |field: Field| -> Vec<&'a str> {
            doc.get_all(field)
                .filter_map(|v| v.as_str())
                .flat_map(|s| s.split(' '))
                .filter(|s| !s.is_empty())
                .collect()
        };
        let fields = CandidateFields {
            name: split(f.name),
            streets: values(f.street)
                .map(|s| s.split(' ').filter(|w| !w.is_empty()).collect())
                .collect(),
            city: split(f.city),
            zip: split(f.zip),
            phones: values(f.phone).collect(),
            emails: values(f.email).collect(),
            email_words: split(f.email_words),
        };
        Some((TenantId(tenant), CustomerId(id), fields))
    }
}

impl Drop for SearchIndex {
    /// Flush staged writes of an index on disk; errors cannot be reported here, and the
    /// index is rebuilt from the store anyway.
    fn drop(&mut self) {
        let _ = self.commit();
    }
}

/// Marks a tenant as being rebuilt for as long as it lives, also when the rebuild fails or
/// its future is dropped.
struct RebuildGuard<'a> {
    index: &'a SearchIndex,
    tenant: TenantId,
}

impl<'a> RebuildGuard<'a> {
    fn start(index: &'a SearchIndex, tenant: TenantId) -> Result<Self, SearchError> {
        let mut rebuilding = lock(&index.rebuilding);
        if rebuilding.contains_key(&tenant) {
            return Err(SearchError::RebuildInProgress(tenant));
        }
        rebuilding.insert(tenant, HashSet::new());
        Ok(RebuildGuard { index, tenant })
    }
}

impl Drop for RebuildGuard<'_> {
    fn drop(&mut self) {
        lock(&self.index.rebuilding).remove(&self.tenant);
    }
}
