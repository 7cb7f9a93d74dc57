package testenv

import (
	"bytes"
	"compress/zlib"
	"io"
	"strings"
)

// PDFText inflates every Flate stream of a PDF written by fpdf: the page text is there as "(text) Tj",
// in the core fonts' Windows-1252 (so "ä" is one byte, 0xE4).
func PDFText(pdf []byte) string {
	var out strings.Builder
	for rest := pdf; ; {
		i := bytes.Index(rest, []byte("stream\n"))
		if i < 0 {
			break
		}
		rest = rest[i+len("stream\n"):]
		j := bytes.Index(rest, []byte("endstream"))
		if j < 0 {
			break
		}
		if r, err := zlib.NewReader(bytes.NewReader(rest[:j])); err == nil {
			b, _ := io.ReadAll(r)
			out.Write(b)
		}
		rest = rest[j+len("endstream"):]
	}
	return out.String()
}
