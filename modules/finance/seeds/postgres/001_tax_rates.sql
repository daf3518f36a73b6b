-- Reference tax rates (basis points: 2100 = 21%).
INSERT INTO tax_rates (code, name, rate_basis_points) VALUES
    ('exempt',   'Exempt (membership dues)', 0),
    ('zero',     'Zero rated',               0),
    ('reduced',  'Reduced rate',             900),
    ('standard', 'Standard rate',            2100)
ON CONFLICT DO NOTHING;
