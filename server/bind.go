package server

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"

	"github.com/go-playground/validator/v10"
	"github.com/labstack/echo/v4"

	"example.com/acs/apperr"
)

// validate reports problems under the JSON names the caller used.
var validate = func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			return f.Name
		}
		return name
	})
	return v
}()

// BindJSON decodes a JSON body into v (unknown fields refused, so a misspelt field is not silently
// ignored) and validates it, answering every problem as an Invalid error naming the JSON fields.
func BindJSON(c echo.Context, v any) error {
	if !strings.HasPrefix(c.Request().Header.Get(echo.HeaderContentType), echo.MIMEApplicationJSON) {
		return apperr.Field("Content-Type", "must be application/json")
	}
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return apperr.Field(te.Field, "has the wrong type")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return apperr.Field(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "is not a known field")
		default:
			// The decoder's text can quote the input: say only that it is not JSON.
			return apperr.Field("body", "is not a JSON object")
		}
	}
	return Validate(v)
}

// Validate checks v's validate tags, answering every problem as an Invalid error naming the JSON fields.
func Validate(v any) error {
	if err := validate.Struct(v); err != nil {
		var ve validator.ValidationErrors
		if !errors.As(err, &ve) {
			return err
		}
		e := &apperr.Error{Kind: apperr.Invalid, Msg: "invalid request", Fields: map[string]string{}}
		for _, fe := range ve {
			_, path, _ := strings.Cut(fe.Namespace(), ".")
			e.Fields[path] = "fails " + fe.Tag()
		}
		return e
	}
	return nil
}
