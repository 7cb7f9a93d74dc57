package letters

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"time"
	_ "time/tzdata" // the letter's dates are in the bank's zone, also on machines without zoneinfo

	"github.com/go-pdf/fpdf"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/acs/store"
)

// bankZone is where the bank and its cardholders are: a letter's last valid day is a date there.
var bankZone = func() *time.Location {
	z, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err) // embedded by time/tzdata; cannot fail
	}
	return z
}()

// Page is one letter as printed.
type Page struct {
	LetterID   uuid.UUID
	Issuer     string
	Name       string
	Street     string
	PostalCode string
	City       string
	Country    string
	MaskedCard string
	Code       string
	PrintedAt  time.Time
	ValidUntil time.Time
}

// LastValidDay is the date printed as "valid until ... inclusive": the last calendar day (bank time) on
// which the code is accepted all day long. The code keeps working into the next morning, until exactly
// 15 days after printing; promising that partial day on paper would make the letter wrong for part of it.
func (p Page) LastValidDay() time.Time {
	v := p.ValidUntil.In(bankZone)
	return time.Date(v.Year(), v.Month(), v.Day()-1, 0, 0, 0, 0, bankZone)
}

// RenderPDF renders pages into one A4 PDF, one letter a page, with the postal address in the window of a
// DIN 5008 envelope (DL with window on the left).
func RenderPDF(pages []Page) ([]byte, error) {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetTitle("ID-Code", true)
	pdf.SetAutoPageBreak(false, 0)
	// The core fonts are Windows-1252; this translates the UTF-8 of names and addresses (ä, ö, ü, ß).
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	for _, p := range pages {
		pdf.AddPage()
		pdf.SetFont("Helvetica", "B", 16)
		pdf.SetXY(20, 15)
		pdf.CellFormat(170, 8, tr(p.Issuer), "", 0, "R", false, 0, "")

		// Return address line and recipient inside the window (DIN 5008 form B: 45 mm from the top).
		pdf.SetFont("Helvetica", "", 7)
		pdf.SetXY(25, 45)
		pdf.CellFormat(80, 4, tr(p.Issuer+" · Kartenservice"), "B", 0, "L", false, 0, "")
		pdf.SetFont("Helvetica", "", 11)
		y := 52.0
		lines := []string{p.Name, p.Street, p.PostalCode + " " + p.City}
		if p.Country != "" && p.Country != "DE" {
			lines = append(lines, p.Country)
		}
		for _, line := range lines {
			pdf.SetXY(25, y)
			pdf.CellFormat(80, 5, tr(line), "", 0, "L", false, 0, "")
			y += 5
		}

		pdf.SetXY(125, 95)
		pdf.CellFormat(65, 5, p.PrintedAt.In(bankZone).Format("02.01.2006"), "", 0, "R", false, 0, "")
		pdf.SetFont("Helvetica", "B", 12)
		pdf.SetXY(25, 105)
		pdf.CellFormat(165, 6, tr("Ihr ID-Code für Mastercard Identity Check / Visa Secure"), "", 0, "L", false, 0, "")

		pdf.SetFont("Helvetica", "", 11)
		pdf.SetXY(25, 115)
		pdf.MultiCell(165, 5.5, tr(fmt.Sprintf("Guten Tag %s,\n\nmit dem folgenden ID-Code schließen Sie die Registrierung Ihrer Karte %s "+
			"für das sichere Bezahlen im Internet ab. Geben Sie ihn im Registrierungsportal oder in der App ein, "+
			"wenn Sie danach gefragt werden.", p.Name, p.MaskedCard)), "", "L", false)

		pdf.SetFont("Courier", "B", 24)
		pdf.SetXY(25, 150)
		pdf.CellFormat(165, 16, p.Code, "1", 0, "C", false, 0, "")

		pdf.SetFont("Helvetica", "", 11)
		pdf.SetXY(25, 172)
		pdf.MultiCell(165, 5.5, tr(fmt.Sprintf("Der ID-Code gilt bis einschließlich %s. Er kann nur einmal verwendet werden; "+
			"ein neuer Brief ersetzt diesen. Nach fünf falschen Eingaben ist er gesperrt.\n\n"+
			"Geben Sie den ID-Code niemandem weiter. Ihre Bank fragt Sie nie am Telefon oder per E-Mail danach. "+
			"Haben Sie diesen Brief nicht angefordert, rufen Sie bitte den Kartenservice an.",
			p.LastValidDay().Format("02.01.2006"))), "", "L", false)

		pdf.SetFont("Helvetica", "I", 9)
		pdf.SetXY(25, 215)
		pdf.MultiCell(165, 4.5, tr(fmt.Sprintf("Your ID code for registering card %s for Mastercard Identity Check / Visa Secure. "+
			"Valid until %s inclusive, for one use only. Never share it.", p.MaskedCard, p.LastValidDay().Format("2 January 2006"))), "", "L", false)

		pdf.SetFont("Helvetica", "", 7)
		pdf.SetXY(25, 280)
		pdf.CellFormat(165, 4, "Brief "+p.LetterID.String(), "", 0, "L", false, 0, "")
	}
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, fmt.Errorf("letters: render PDF: %w", err)
	}
	return buf.Bytes(), nil
}

// BatchResult says what a print batch produced. A batch with no letters writes no files.
type BatchResult struct {
	ID           uuid.UUID
	Letters      int
	PDFPath      string
	ManifestPath string
}

// maxBatch bounds one batch; a larger backlog is printed by running the batch again.
const maxBatch = 2000

// Batch prints every requested letter: it generates each code, stores only its verifier, renders one PDF
// and a manifest for the print shop (no codes in the manifest) into outDir, and marks the letters
// printed. The files are written and synced before the transaction commits, so a letter marked printed
// always has its page; if the commit fails the files are removed and the letters stay requested.
// Running it twice prints no letter twice: the second run finds none requested.
func (l *Letters) Batch(ctx context.Context, outDir string) (BatchResult, error) {
	var res BatchResult
	err := store.WithTx(ctx, l.d.Pool, func(tx pgx.Tx) error {
		res = BatchResult{}
		now := l.d.Clock.Now()
		rows, err := tx.Query(ctx, `SELECT id, card_id FROM letters WHERE state = 'requested'
			ORDER BY requested_at, id LIMIT $1 FOR UPDATE SKIP LOCKED`, maxBatch)
		if err != nil {
			return err
		}
		type todo struct{ id, card uuid.UUID }
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (todo, error) {
			var t todo
			return t, r.Scan(&t.id, &t.card)
		})
		if err != nil || len(list) == 0 {
			return err
		}
		res.ID, res.Letters = uuid.New(), len(list)
		if _, err := tx.Exec(ctx, `INSERT INTO letter_batches (id, created_at, letters) VALUES ($1, $2, $3)`,
			res.ID, now, len(list)); err != nil {
			return err
		}
		pages := make([]Page, 0, len(list))
		for _, t := range list {
			p, err := l.page(ctx, t.id, t.card, now)
			if err != nil {
				return err
			}
			if l.d.Access != nil {
				if err := l.d.Access.IssuerDataRead(ctx, tx, t.card, "letter_address"); err != nil {
					return err
				}
			}
			// The verifier is over the canonical form, the one Redeem computes from what is typed.
			v, err := l.verifier(NormalizeCode(p.Code))
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE letters SET state = 'printed', printed_at = $2, valid_until = $3,
				code_verifier = $4, batch_id = $5 WHERE id = $1`, t.id, now, p.ValidUntil, v, res.ID); err != nil {
				return err
			}
			pages = append(pages, p)
		}
		pdfBytes, err := RenderPDF(pages)
		if err != nil {
			return err
		}
		base := filepath.Join(outDir, now.In(bankZone).Format("2006-01-02")+"-"+res.ID.String()[:8])
		res.PDFPath, res.ManifestPath = base+".pdf", base+".csv"
		if err := writeFileSync(res.PDFPath, pdfBytes); err != nil {
			return err
		}
		if err := writeFileSync(res.ManifestPath, manifest(res.ID, pages)); err != nil {
			_ = os.Remove(res.PDFPath)
			return err
		}
		return nil
	})
	if err != nil {
		if res.PDFPath != "" {
			_ = os.Remove(res.PDFPath)
			_ = os.Remove(res.ManifestPath)
		}
		return BatchResult{}, fmt.Errorf("letters: batch: %w", err)
	}
	if res.Letters > 0 {
		l.d.Log.InfoContext(ctx, "letter batch printed", "batch_id", res.ID, "letters", res.Letters, "pdf", res.PDFPath)
	}
	return res, nil
}

func (l *Letters) page(ctx context.Context, letterID, cardID uuid.UUID, now time.Time) (Page, error) {
	card, err := l.d.Cards.Get(ctx, cardID)
	if err != nil {
		return Page{}, err
	}
	h, err := l.d.Cards.Holder(ctx, cardID)
	if err != nil {
		return Page{}, err
	}
	code, err := l.newCode()
	if err != nil {
		return Page{}, err
	}
	return Page{
		LetterID: letterID, Issuer: l.d.Issuer, Name: h.Name, Street: h.Street, PostalCode: h.PostalCode,
		City: h.City, Country: h.Country, MaskedCard: card.Masked(), Code: code,
		PrintedAt: now, ValidUntil: now.Add(Validity),
	}, nil
}

// manifest is the print shop's list: which letter goes to which postal code, for sorting and postage.
// It holds no code and no full card number.
func manifest(batch uuid.UUID, pages []Page) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"batch", "page", "letter_id", "name", "postal_code", "city", "country"})
	for i, p := range pages {
		_ = w.Write([]string{batch.String(), fmt.Sprint(i + 1), p.LetterID.String(), p.Name, p.PostalCode, p.City, p.Country})
	}
	w.Flush()
	return b.Bytes()
}

// writeFileSync writes a file readable only by its owner (it holds ID codes) and syncs it to disk.
func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
