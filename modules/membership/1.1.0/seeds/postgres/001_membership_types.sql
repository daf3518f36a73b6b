-- Default membership types every new tenant starts with.
INSERT INTO membership_types (code, name, annual_fee_cents) VALUES
    ('full',     'Full member',     12000),
    ('student',  'Student member',   3000),
    ('retired',  'Retired member',   6000),
    ('honorary', 'Honorary member',     0)
ON CONFLICT DO NOTHING;
