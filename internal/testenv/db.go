package testenv

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acs/store"
)

// DatabaseURL creates an empty database of the test's own on the test cluster and returns its URL; the
// database is dropped when the test ends.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("ACS_PG_URL")
	if base == "" {
		t.Fatal("ACS_PG_URL is not set: run the tests with `make test`, which starts a private PostgreSQL")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base+"/postgres?sslmode=disable")
	if err != nil {
		t.Fatalf("connect to test cluster: %v", err)
	}
	defer admin.Close(ctx)
	name := "t_" + RandomHex(t, 8)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base+"/postgres?sslmode=disable")
		if err != nil {
			t.Errorf("drop database: %v", err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database: %v", err)
		}
	})
	return base + "/" + name + "?sslmode=disable"
}

// DB returns a pool on a migrated database of the test's own.
func DB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := store.Open(ctx, store.Config{URL: DatabaseURL(t), MaxConns: 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := store.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return pool
}
