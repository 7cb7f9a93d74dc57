package cards_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// synthFile makes a card file of n distinct Luhn-valid Visa numbers.
func synthFile(n int) []byte {
	var b bytes.Buffer
	b.WriteString("pan,expiry,status,product,holder_name,date_of_birth,street,postal_code,city,country\n")
	for i := 0; i < n; i++ {
		body := fmt.Sprintf("400099%09d", i)
		sum := 0
		for j := len(body) - 1; j >= 0; j-- {
			d := int(body[j] - '0')
			if (len(body)-1-j)%2 == 0 {
				if d *= 2; d > 9 {
					d -= 9
				}
			}
			sum += d
		}
		fmt.Fprintf(&b, "%s%d,2030-01,active,credit,Erika Mustermann,1980-01-01,Heidestraße 17,51147,Köln,DE\n", body, (10-sum%10)%10)
	}
	return b.Bytes()
}

// BenchmarkImport10k imports 10,000 new cards into an empty directory, then the same file again (all
// updates). b.N counts whole files; the cards/s metric is what to compare.
func BenchmarkImport10k(b *testing.B) {
	const n = 10000
	file := synthFile(n)
	fx := newFixture(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := fx.dir.Import(ctx, bytes.NewReader(file))
		if err != nil {
			b.Fatal(err)
		}
		if res.Created+res.Updated != n {
			b.Fatalf("imported %+v", res)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "cards/s")
}
