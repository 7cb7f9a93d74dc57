package cards

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/acs/envelope"
	"example.com/acs/store"
)

// FileColumns is the header a card file must have, in this order.
var FileColumns = []string{"pan", "expiry", "status", "product", "holder_name", "date_of_birth", "street", "postal_code", "city", "country"}

// Problem is one thing wrong in a card file: where, which field, what. It never quotes the value, which
// may be a card number or personal data.
type Problem struct {
	Line  int
	Field string
	Msg   string
}

func (p Problem) String() string {
	if p.Field == "" {
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	}
	return fmt.Sprintf("line %d: %s: %s", p.Line, p.Field, p.Msg)
}

// maxProblems bounds the report for a file that is wrong throughout (a wrong file picked).
const maxProblems = 50

// ImportError lists every problem of a refused file; nothing of such a file is imported.
type ImportError struct {
	Problems []Problem
	More     int // problems found beyond those listed
}

func (e *ImportError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cards: card file refused, nothing imported (%d problems)", len(e.Problems)+e.More)
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "\n  ... and %d more", e.More)
	}
	return b.String()
}

// ImportResult counts what an import did.
type ImportResult struct {
	Created, Updated int
}

type fileRow struct {
	line    int
	pan     string
	scheme  Scheme
	expiry  time.Time
	status  Status
	product Product
	holder  Holder
}

var (
	expiryRE     = regexp.MustCompile(`^(20[0-9]{2})-(0[1-9]|1[0-2])$`)
	postalCodeRE = regexp.MustCompile(`^[A-Za-z0-9 -]{3,10}$`)
	countryRE    = regexp.MustCompile(`^[A-Z]{2}$`)
)

// parser reads a card file one row at a time, so a file of millions of cards never sits in memory;
// the problems it finds accumulate in ie (bounded by maxProblems).
type parser struct {
	cr *csv.Reader
	ie ImportError
}

func (p *parser) add(line int, field, msg string) {
	if len(p.ie.Problems) < maxProblems {
		p.ie.Problems = append(p.ie.Problems, Problem{line, field, msg})
	} else {
		p.ie.More++
	}
}

func (p *parser) failed() bool { return len(p.ie.Problems) > 0 }

// newParser checks the header; a file without the right one is refused before any row is read.
func newParser(r io.Reader) (*parser, error) {
	p := &parser{cr: csv.NewReader(r)}
	p.cr.FieldsPerRecord = -1 // counted here, to report the line instead of stopping
	p.cr.ReuseRecord = true   // parseRow copies what it keeps
	header, err := p.cr.Read()
	if err != nil {
		p.add(1, "", "no header line (want "+strings.Join(FileColumns, ",")+")")
		return nil, &p.ie
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff") // a spreadsheet's byte-order mark
	}
	if strings.Join(header, ",") != strings.Join(FileColumns, ",") {
		p.add(1, "", "header must be "+strings.Join(FileColumns, ","))
		return nil, &p.ie
	}
	return p, nil
}

// next returns the next well-formed row, recording the problems of those that are not; ok is false at
// the end of the file.
func (p *parser) next() (row fileRow, ok bool, err error) {
	for {
		rec, err := p.cr.Read()
		if errors.Is(err, io.EOF) {
			return fileRow{}, false, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				// The parse error's text quotes nothing from the record, only positions.
				p.add(pe.Line, "", pe.Err.Error())
				continue
			}
			return fileRow{}, false, fmt.Errorf("cards: read card file: %w", err)
		}
		line, _ := p.cr.FieldPos(0)
		if len(rec) != len(FileColumns) {
			p.add(line, "", fmt.Sprintf("has %d fields, want %d", len(rec), len(FileColumns)))
			continue
		}
		row, probs := parseRow(line, rec)
		for _, pr := range probs {
			p.add(pr.Line, pr.Field, pr.Msg)
		}
		if len(probs) == 0 {
			return row, true, nil
		}
	}
}

func parseRow(line int, rec []string) (fileRow, []Problem) {
	var probs []Problem
	bad := func(field, msg string) { probs = append(probs, Problem{line, field, msg}) }
	for i, v := range rec {
		rec[i] = strings.TrimSpace(v)
		if !utf8.ValidString(rec[i]) {
			bad(FileColumns[i], "is not UTF-8")
		}
	}
	row := fileRow{line: line, pan: NormalizePAN(rec[0])}
	var err error
	if row.scheme, err = CheckPAN(row.pan); err != nil {
		bad("pan", err.Error())
	}
	if m := expiryRE.FindStringSubmatch(rec[1]); m == nil {
		bad("expiry", "must be YYYY-MM")
	} else {
		row.expiry, _ = time.Parse("2006-01", rec[1])
	}
	switch Status(rec[2]) {
	case Active, Blocked, Closed:
		row.status = Status(rec[2])
	default:
		bad("status", "must be active, blocked or closed")
	}
	switch Product(rec[3]) {
	case Credit, Debit:
		row.product = Product(rec[3])
	default:
		bad("product", "must be credit or debit")
	}
	h := Holder{Name: rec[4], DateOfBirth: rec[5], Street: rec[6], PostalCode: rec[7], City: rec[8], Country: rec[9]}
	if l := utf8.RuneCountInString(h.Name); l < 2 || l > 70 {
		bad("holder_name", "must be 2 to 70 characters")
	}
	if dob, err := time.Parse("2006-01-02", h.DateOfBirth); err != nil || dob.Year() < 1900 {
		bad("date_of_birth", "must be a date YYYY-MM-DD after 1900")
	}
	if l := utf8.RuneCountInString(h.Street); l < 3 || l > 70 {
		bad("street", "must be 3 to 70 characters")
	}
	if !postalCodeRE.MatchString(h.PostalCode) {
		bad("postal_code", "must be 3 to 10 letters or digits")
	}
	if l := utf8.RuneCountInString(h.City); l < 2 || l > 50 {
		bad("city", "must be 2 to 50 characters")
	}
	if !countryRE.MatchString(h.Country) {
		bad("country", "must be an ISO 3166 two-letter code such as DE")
	}
	row.holder = h
	return row, probs
}

// importLockKey serialises imports (pg_advisory_xact_lock), so that the id read for an existing card is
// still the card's id when the row is written.
const importLockKey = 0x0ac5_0001

// importBatch rows are written per round trip: large enough that the round trips do not dominate, small
// enough that a batch's rows, hashes and ciphertexts stay a few hundred kilobytes.
const importBatch = 1000

// Import loads a card file. Either every row is imported, creating new cards and updating known ones
// (found by number, so a re-import never duplicates), or, when any row is wrong, nothing is and the error
// is an *ImportError naming each line. The file is streamed: rows are written in batches inside one
// transaction as they are read, and a problem anywhere rolls the whole file back, so memory stays bounded
// (one batch, plus 20 bytes per card to find a number given twice) whatever the file's size.
func (d *Directory) Import(ctx context.Context, r io.Reader) (ImportResult, error) {
	p, err := newParser(r)
	if err != nil {
		return ImportResult{}, err
	}
	var res ImportResult
	err = store.WithTx(ctx, d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, importLockKey); err != nil {
			return err
		}
		// The first 16 bytes of the keyed hash find a number given twice; the number itself is not kept.
		seen := map[[16]byte]int32{}
		var rows []fileRow
		var hashes [][]byte
		for {
			row, ok, err := p.next()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			h, err := d.panHash(row.pan)
			if err != nil {
				return err
			}
			if first, dup := seen[[16]byte(h)]; dup {
				p.add(row.line, "pan", fmt.Sprintf("same card number as line %d", first))
				continue
			}
			seen[[16]byte(h)] = int32(row.line)
			if p.failed() {
				continue // the file is refused: read on only to report its problems
			}
			rows, hashes = append(rows, row), append(hashes, h)
			if len(rows) == importBatch {
				if err := d.writeBatch(ctx, tx, rows, hashes, &res); err != nil {
					return err
				}
				rows, hashes = rows[:0], hashes[:0]
			}
		}
		if p.failed() {
			return &p.ie
		}
		return d.writeBatch(ctx, tx, rows, hashes, &res)
	})
	if err != nil {
		return ImportResult{}, err
	}
	d.log.InfoContext(ctx, "card file imported", "created", res.Created, "updated", res.Updated)
	return res, nil
}

// writeBatch upserts rows (hashes[i] is rows[i]'s number hash) in one round trip and counts them in res.
func (d *Directory) writeBatch(ctx context.Context, tx pgx.Tx, rows []fileRow, hashes [][]byte, res *ImportResult) error {
	if len(rows) == 0 {
		return nil
	}
	ids, err := existingIDs(ctx, tx, hashes)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	for i, row := range rows {
		id, known := ids[string(hashes[i])]
		if !known {
			id = uuid.New()
		}
		panEnc, err := d.keys.Encrypt(envelope.AD{Table: "issuer_cards", Column: "pan_enc", Row: id.String()}, []byte(row.pan))
		if err != nil {
			return err
		}
		doc, err := json.Marshal(row.holder)
		if err != nil {
			return err
		}
		holderEnc, err := d.keys.Encrypt(envelope.AD{Table: "issuer_cards", Column: "holder_enc", Row: id.String()}, doc)
		if err != nil {
			return err
		}
		// The WHERE on the update makes a row whose id is not the one read above a visible failure (no
		// row returned) instead of a ciphertext bound to another row's id.
		b.Queue(`INSERT INTO issuer_cards (id, pan_hash, pan_enc, pan_first6, pan_last4, pan_length, scheme, product,
				expiry_month, status, holder_enc, blocked_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, CASE WHEN $10 = 'blocked' THEN 'card_file' END)
			ON CONFLICT (pan_hash) DO UPDATE SET pan_enc = EXCLUDED.pan_enc, product = EXCLUDED.product,
				expiry_month = EXCLUDED.expiry_month, status = EXCLUDED.status, holder_enc = EXCLUDED.holder_enc,
				blocked_by = CASE WHEN EXCLUDED.status = 'blocked' THEN coalesce(issuer_cards.blocked_by, 'card_file') END,
				updated_at = now()
			WHERE issuer_cards.id = EXCLUDED.id
			RETURNING (xmax = 0)`,
			id, hashes[i], panEnc, row.pan[:6], row.pan[len(row.pan)-4:], len(row.pan), row.scheme, row.product,
			row.expiry, row.status, holderEnc)
		d.log.DebugContext(ctx, "card import row", "line", row.line, "card_id", id,
			"card", Mask(row.pan[:6], row.pan[len(row.pan)-4:], len(row.pan)), "known", known)
	}
	br := tx.SendBatch(ctx, b)
	for _, row := range rows {
		var inserted bool
		if err := br.QueryRow().Scan(&inserted); err != nil {
			_ = br.Close()
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("cards: line %d: card changed identity during import", row.line)
			}
			return fmt.Errorf("cards: line %d: write: %w", row.line, err)
		}
		if inserted {
			res.Created++
		} else {
			res.Updated++
		}
	}
	return br.Close()
}

func existingIDs(ctx context.Context, tx pgx.Tx, hashes [][]byte) (map[string]uuid.UUID, error) {
	rows, err := tx.Query(ctx, `SELECT pan_hash, id FROM issuer_cards WHERE pan_hash = ANY($1)`, hashes)
	if err != nil {
		return nil, err
	}
	ids := map[string]uuid.UUID{}
	for rows.Next() {
		var h []byte
		var id uuid.UUID
		if err := rows.Scan(&h, &id); err != nil {
			return nil, err
		}
		ids[string(h)] = id
	}
	return ids, rows.Err()
}
