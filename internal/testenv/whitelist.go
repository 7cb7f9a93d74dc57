package testenv

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acs/whitelist"
)

// TrustMerchant puts a merchant on a card's whitelist as a successful challenge would: with a recorded
// challenged transaction at that merchant (acquirer BIN 412345).
func TrustMerchant(t testing.TB, pool *pgxpool.Pool, wl *whitelist.List, cardID uuid.UUID, name, merchantID string) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		id := uuid.New()
		if _, err := tx.Exec(ctx, `INSERT INTO acs_transactions (acs_trans_id, three_ds_server_trans_id, ds_trans_id, message_version,
			card_id, amount, minor_units, currency, exponent, merchant_name, acquirer_bin, acquirer_merchant_id, mcc, merchant_country,
			purchase_date, challenge_ind, notification_url, browser_language, trans_status, reasons, created_at, final_status)
			VALUES ($1, $2, $3, '2.2.0', $4, 10, 1000, '978', 2, $5, '412345', $6, '5732', '276', now(), '01', 'https://shop.example/n',
			'de', 'C', '["challenge_succeeded"]', now(), 'Y')`, id, uuid.New(), uuid.New(), cardID, name, merchantID); err != nil {
			return err
		}
		return wl.AddTx(ctx, tx, cardID, whitelist.Merchant{AcquirerBIN: "412345", AcquirerMerchantID: merchantID, Name: name}, id)
	})
	if err != nil {
		t.Fatal(err)
	}
}
