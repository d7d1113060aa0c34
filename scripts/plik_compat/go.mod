module natsbridge/plik_compat

go 1.26
