"""Reference data of the demo association (used by ``manage.py seed_demo``).

Two financial entities share one chart layout; payment methods name the Association's
accounts and the services map them to the Foundation's accounts with the same code.
"""

from finance.models import GLAccount, PaymentMethod, Product

ENTITIES = [
    ("ASSN", "Lakeshore Professional Association"),
    ("FDN", "Lakeshore Association Foundation"),
]

# (code, name, type, role) for every entity.
COMMON_ACCOUNTS = [
    ("1000-00", "Operating cash", GLAccount.Type.ASSET, GLAccount.Role.CASH),
    ("1010-00", "Card settlement clearing", GLAccount.Type.ASSET, GLAccount.Role.CASH),
    ("1020-00", "ACH settlement clearing", GLAccount.Type.ASSET, GLAccount.Role.CASH),
    ("1200-00", "Accounts receivable", GLAccount.Type.ASSET, GLAccount.Role.AR),
    ("2100-00", "Unapplied cash", GLAccount.Type.LIABILITY, GLAccount.Role.UNAPPLIED_CASH),
    ("2150-00", "Refund clearing", GLAccount.Type.LIABILITY, GLAccount.Role.REFUND_CLEARING),
    ("2400-00", "Deferred income", GLAccount.Type.LIABILITY, GLAccount.Role.DEFERRED_INCOME),
    ("3000-00", "Net assets", GLAccount.Type.EQUITY, GLAccount.Role.OTHER),
    ("6100-00", "Merchant and bank fees", GLAccount.Type.EXPENSE, GLAccount.Role.OTHER),
]

INCOME_ACCOUNTS = {
    "ASSN": [
        ("4000-10", "Membership dues - individual"),
        ("4000-20", "Membership dues - corporate"),
        ("4100-10", "Conference registration"),
        ("4100-20", "Webinars and regional meetings"),
        ("4200-10", "Merchandise sales"),
        ("4300-10", "Publication sales"),
        ("4400-10", "Certification and CE fees"),
    ],
    "FDN": [
        ("4500-10", "Contributions - unrestricted"),
        ("4500-20", "Contributions - scholarship fund"),
        ("4600-10", "Special events - gala"),
        ("4700-10", "Program service fees"),
    ],
}

K = Product.Kind
# (entity, code, name, category, kind, income GL, deferred?, price, recurring, description)
PRODUCTS = [
    ("ASSN", "DUES-IND", "Individual membership - annual dues", "Membership", K.DUES, "4000-10", True, "195.00",
     False, "Twelve months of individual membership from the start of the billing period."),
    ("ASSN", "DUES-STU", "Student membership - annual dues", "Membership", K.DUES, "4000-10", True, "45.00",
     False, "For full-time students; proof of enrollment required."),
    ("ASSN", "DUES-RET", "Retired membership - annual dues", "Membership", K.DUES, "4000-10", True, "95.00",
     False, "For retired members of ten years' standing."),
    ("ASSN", "DUES-CORP", "Corporate membership - annual dues", "Membership", K.DUES, "4000-20", True, "1250.00",
     False, "Covers up to ten named staff of a member organization."),
    ("ASSN", "DUES-MONTHLY", "Individual membership - monthly autopay", "Membership", K.DUES, "4000-10", False,
     "17.50", True, "Individual membership paid monthly by card; renews every month until cancelled."),
    ("ASSN", "CONF-MEM", "Annual Conference - member registration", "Events", K.EVENT, "4100-10", False,
     "595.00", False, "Three days of sessions, the exhibit hall and the awards dinner."),
    ("ASSN", "CONF-NON", "Annual Conference - non-member registration", "Events", K.EVENT, "4100-10", False,
     "795.00", False, "Three days of sessions, the exhibit hall and the awards dinner."),
    ("ASSN", "WEB-FIN101", "Webinar: Nonprofit Finance Essentials", "Events", K.EVENT, "4100-20", False,
     "49.00", False, "Ninety-minute live webinar with recording; 1.5 CE credits."),
    ("ASSN", "REG-MEETING", "Regional chapter meeting", "Events", K.EVENT, "4100-20", False, "125.00", False,
     "Half-day regional meeting with lunch."),
    ("ASSN", "MER-POLO", "Association polo shirt", "Merchandise", K.MERCHANDISE, "4200-10", False, "32.00",
     False, "Embroidered logo; sizes S-XXL."),
    ("ASSN", "MER-MUG", "Coffee mug", "Merchandise", K.MERCHANDISE, "4200-10", False, "14.50", False,
     "Ceramic, 12 oz."),
    ("ASSN", "MER-TOTE", "Conference tote bag", "Merchandise", K.MERCHANDISE, "4200-10", False, "18.00", False,
     "Recycled canvas."),
    ("ASSN", "PUB-HANDBOOK", "Handbook of Association Accounting", "Publications", K.PUBLICATION, "4300-10",
     False, "65.00", False, "Print edition, 412 pages."),
    ("ASSN", "PUB-SALARY", "Annual Salary Survey report", "Publications", K.PUBLICATION, "4300-10", False,
     "149.00", False, "PDF download; members receive the summary free."),
    ("ASSN", "CERT-EXAM", "Certification exam fee", "Certification", K.PROGRAM_FEE, "4400-10", False, "350.00",
     False, "One sitting of the certification exam at a testing center."),
    ("ASSN", "CERT-CE", "Continuing education credits (pack of 5)", "Certification", K.PROGRAM_FEE, "4400-10",
     False, "40.00", False, "Five CE credits to use within a year."),
    ("FDN", "FDN-DON-GEN", "General donation", "Donations", K.DONATION, "4500-10", False, "100.00", False,
     "Unrestricted gift to the Foundation."),
    ("FDN", "FDN-DON-SCH", "Scholarship fund donation", "Donations", K.DONATION, "4500-20", False, "250.00", False,
     "Restricted to student scholarships."),
    ("FDN", "FDN-GALA", "Foundation gala dinner ticket", "Events", K.EVENT, "4600-10", False, "175.00", False,
     "Includes dinner and the silent auction."),
    ("FDN", "FDN-MENTOR", "Mentoring program fee", "Programs", K.PROGRAM_FEE, "4700-10", False, "300.00", False,
     "Six-month mentoring program."),
    ("FDN", "FDN-YOUTH", "Youth financial literacy camp", "Programs", K.PROGRAM_FEE, "4700-10", False, "75.00",
     False, "One-week day camp for ages 12-16."),
]  # fmt: skip

M = PaymentMethod.Type
# (code, name, type, cash account code or None, uses the gateway account)
PAYMENT_METHODS = [
    ("CASH", "Cash", M.CASH, "1000-00", False),
    ("CHECK", "Check", M.CHECK, "1000-00", False),
    ("VISA", "Visa", M.CREDIT_CARD, "1010-00", True),
    ("ACH", "ACH bank transfer", M.ACH, "1020-00", True),
    ("OPENCREDIT", "Open credit", M.OPEN_CREDIT, None, False),
]

# name, description, [(method code, display name)] in order
PAYMENT_METHOD_SETS = [
    (
        "Staff",
        "Methods staff may use when entering orders and payments.",
        [
            ("CASH", "Cash"),
            ("CHECK", "Check"),
            ("VISA", "Visa"),
            ("ACH", "Bank transfer (ACH)"),
            ("OPENCREDIT", "Apply open credit"),
        ],
    ),
    (
        "Public",
        "Methods offered on the public web store and the member checkout.",
        [("VISA", "Credit or debit card"), ("ACH", "Bank account (ACH)"), ("OPENCREDIT", "Use my open credit")],
    ),
]

COMPANIES = [
    "Harbor Point Credit Union",
    "Meridian Health Partners",
    "Bluestem Community Foundation",
    "Calloway & Finch CPAs",
    "Northgate Regional Hospital",
    "Prairie Wind Cooperative",
    "Summit Ridge School District",
    "Oak Hollow Senior Living",
    "Lakeside Food Bank",
    "Granite State Arts Council",
    "Riverbend Housing Authority",
    "Copperfield Engineering",
    "Westbrook Public Library",
    "Silver Lake Rowing Club",
    "Ironwood Manufacturing",
    "Maple Street Family Services",
    "Beacon Hill Museum",
    "Crescent Bay Yacht Club",
    "Evergreen Land Trust",
    "Fairview Township",
    "Hawthorne Legal Aid",
    "Juniper Valley Water District",
    "Kingsley Orchestra Society",
    "Larkspur Animal Rescue",
    "Millbrook Chamber of Commerce",
    "Northshore Youth Soccer",
    "Pinecrest University",
    "Quarry Hill Church",
    "Redwood Veterans Alliance",
    "Stonebridge Insurance Group",
]

FIRST_NAMES = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony", "Sandra", "Mark", "Margaret",
    "Donald", "Ashley", "Steven", "Kimberly", "Andrew", "Emily", "Paul", "Donna", "Joshua", "Michelle",
    "Kenneth", "Carol", "Kevin", "Amanda", "Brian", "Melissa", "Timothy", "Deborah", "Ronald", "Stephanie",
    "Priya", "Wei", "Mateo", "Aisha", "Hiroshi", "Fatima", "Lucas", "Olga", "Kwame", "Ingrid",
]  # fmt: skip

LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Okafor", "Patel", "Kowalski", "Lindqvist", "Tanaka", "Haddad", "O'Brien", "Fischer", "Novak", "Byrne",
]  # fmt: skip

MAIL_DOMAINS = ["mail.example", "inbox.example", "post.example", "example.com", "example.net"]
